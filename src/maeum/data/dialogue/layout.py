"""The dialogue layout interface, and the factory that picks a layout: the one place that knows which
layouts exist.

A layout lays turns out as token ids. It answers four questions, and nothing else in maeum depends on which
layout it is:

* `render(turns, condition)`: the ids of a dialogue and the token span of every system turn's targets
  (`Rendered`); with `prompt=True`, the ids that ask for the next system turn instead;
* `stops()`: the ids that end a generated reply, each with the reason it gives (`eos`, `usr`);
* `reply(ids)`: a generated reply as plain text (and the condition the model wrote, in a layout that
  generates one);
* `pieces(turn)`: a turn's own tokens, which truncation cuts (the cut turn is a `Cut`, rendered in place).

Label masks, truncation and the checks are written once over these answers, in
`maeum.data.dialogue.encoding`.

A layout is configured by a *template*: a frozen dataclass of its fields (`conf/data/template/*.yaml`) whose
class attribute `layout` names the `Layout` class that renders it. maeum has two: `Template` (the KoGPT2
markers, `maeum.data.dialogue.markers`) and `ChatTemplate` (the tokenizer's own chat template,
`maeum.data.dialogue.chat_template`). A third is one template dataclass and one `Layout` subclass, in any
importable module; its config names the template with `_target_` (docs/development.md).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from hydra.utils import get_class

from maeum.data.dialogue.records import TEMPLATES, Dialogue, Turn
from maeum.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Cut:
    """A turn that truncation cut: the token ids that are left of it (`Layout.pieces` of the whole)."""

    speaker: str
    ids: tuple[int, ...]


AnyTurn = Turn | Cut


class Span(NamedTuple):
    """Tokens `[begin, end)` that are targets of system turn `turn` (0 = the first)."""

    turn: int
    begin: int
    end: int


@dataclass
class Rendered:
    """A laid-out dialogue: its ids and the spans of its system turns' targets (none for a prompt)."""

    ids: list[int]
    spans: list[Span]

    def __len__(self) -> int:
        return len(self.ids)


class Layout(ABC):
    """How one template lays dialogues out for one tokenizer (see the module docstring)."""

    generates_condition: bool = False  # the model writes the condition itself (label_response's category)
    describe: str = "a dialogue layout"  # for messages: "the tokenizer's chat template", ...

    def __init__(self, template: Any, tokenizer: PreTrainedTokenizerBase) -> None:
        self.template = template
        self.tokenizer = tokenizer

    def check(self) -> None:
        """Raise one clear `DataError` when the tokenizer cannot render this layout (before any encoding)."""
        return None

    @abstractmethod
    def render(self, turns: Sequence[AnyTurn], condition: str | None, *, prompt: bool = False) -> Rendered:
        """`turns` alternate usr/sys and end on sys (on the usr turn to answer, with `prompt`)."""

    def render_batch(self, dialogues: Sequence[Dialogue]) -> list[Rendered]:
        """`render` of whole dialogues, in one batched tokenizer call where the layout can."""
        return [self.render(d.turns, d.condition) for d in dialogues]

    def pieces(self, turn: AnyTurn) -> list[int]:
        """The ids of a turn's own content, without markers."""
        if isinstance(turn, Cut):
            return list(turn.ids)
        return self.tokenizer(turn.text, add_special_tokens=False, verbose=False)["input_ids"]

    def text(self, turn: AnyTurn) -> Turn:
        """A turn as text: a cut turn's ids decoded (for layouts that render text, not ids)."""
        if isinstance(turn, Cut):
            return Turn(turn.speaker, self.tokenizer.decode(list(turn.ids)).strip())
        return turn

    @abstractmethod
    def stops(self) -> dict[int, str]:
        """The ids that end a reply, in order, each with its stop reason (`eos`, `usr`)."""

    @abstractmethod
    def reply(self, ids: Sequence[int]) -> tuple[str, str | None]:
        """A generated reply's ids (before its stop id) as plain text, and the condition it wrote."""

    def exported_tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer that an export saves (a copy: a chat template's own jinja is written into it)."""
        import copy

        return copy.deepcopy(self.tokenizer)

    @property
    def start_id(self) -> int:
        """What `shift` puts before the tokens: bos, or pad for tokenizers with none (Qwen)."""
        tokenizer = self.tokenizer
        return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.pad_token_id


# ---------------------------------------------------------------------------------------------- factory
def template_from(value: Any) -> Any:
    """A template from its name in `TEMPLATES`, its fields (a config or `maeum.json`) or itself.

    Fields name their class by `_target_`; without one (exports and configs written before it was stored),
    `kind: chat_template` is a `ChatTemplate` and anything else a marker `Template`.
    """
    if isinstance(value, str):
        if value not in TEMPLATES:
            raise DataError(f"unknown dialogue template '{value}': use one of {', '.join(TEMPLATES)}")
        return TEMPLATES[value]
    if not isinstance(value, Mapping):
        if not hasattr(type(value), "layout"):
            raise DataError(f"data.template: {value!r} is not a dialogue template (it names no layout)")
        return value
    fields = {k: v for k, v in value.items() if not k.startswith("_")}
    target = value.get("_target_") or (
        "maeum.data.dialogue.records.ChatTemplate"
        if fields.get("kind") == "chat_template"
        else "maeum.data.dialogue.records.Template"
    )
    try:
        return get_class(str(target))(**fields)
    except TypeError as err:
        raise DataError(f"data.template: {target} does not take these fields: {err}") from None


def template_fields(template: Any) -> dict[str, Any]:
    """A template as the fields `template_from` reads back (what `maeum.json` stores)."""
    cls = type(template)
    return {"_target_": f"{cls.__module__}.{cls.__qualname__}", **asdict(template)}


def layout_class(template: Any) -> type[Layout]:
    return _layout_class(template_from(template).layout)


@functools.cache
def _layout_class(path: str) -> type[Layout]:
    cls = get_class(path)
    if not (isinstance(cls, type) and issubclass(cls, Layout)):
        raise DataError(f"{path} is not a maeum.data.dialogue.layout.Layout")
    return cls


def layout_for(template: Any, tokenizer: PreTrainedTokenizerBase) -> Layout:
    """The layout that renders `template` (a template, its name or its fields) with `tokenizer`."""
    template = template_from(template)
    return layout_class(template)(template, tokenizer)
