"""Dialogue records and templates: what a dialogue is, and where its markers go.

A `Dialogue` is a list of `Turn`s (user `usr`, system `sys`) and an optional condition (a sentiment, an
emotion or a category). A `Template` says where the markers, the condition and the closing token go
(`conf/data/template/*.yaml`, chosen with `data/template=NAME`; `TEMPLATES` holds the same):

* `chat` (KoGPT2-chatbot): `<usr>{u1}<unused1>{condition}<sys>{s1}<usr>{u2}<sys>{s2}...</s>`, no leading
  bos; `<unused1>{condition}` only when a condition is set, once, after the first user turn.
* `label_response` (the wellness notebook):
  `</s><unused0>{question}<unused1>{category}<unused2>{response}</s>`; the category is generated, so it
  is a target, and so is the `<unused2>` marker.

A `ChatTemplate` (`data/template=chat_template`) lays a dialogue out in the tokenizer's own chat template
instead (`apply_chat_template`: system, user and assistant messages), for today's instruction models; the
condition goes into a system prompt.

A template holds fields only; its class attribute `layout` names the `maeum.data.dialogue.layout.Layout`
that renders it (`maeum.data.dialogue.markers`, `maeum.data.dialogue.chat_template`).

This module imports neither torch nor Lightning: generation, sessions, loading and the demo need only it
and `maeum.data.dialogue.encoding`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from maeum.errors import DataError

IGNORE_INDEX = -100
LABEL_MASKS = ("input", "last_sys", "all_sys", "shift")
Speaker = Literal["usr", "sys"]


@dataclass(frozen=True)
class Turn:
    speaker: Speaker
    text: str


@dataclass(frozen=True)
class Dialogue:
    turns: tuple[Turn, ...]
    condition: str | None = None

    def __init__(self, turns: Sequence[Turn], condition: str | None = None) -> None:
        object.__setattr__(self, "turns", tuple(turns))
        object.__setattr__(self, "condition", condition)


@dataclass(frozen=True)
class Template:
    """Where the markers, the condition and the closing token go (see the module docstring)."""

    layout: ClassVar[str] = "maeum.data.dialogue.markers.MarkerLayout"
    usr: str = "<usr>"
    sys: str = "<sys>"
    condition: str = "<unused1>"
    eos: str = "</s>"
    prefix: tuple[str, ...] = ()
    sys_marker_is_target: bool = False
    condition_is_target: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", tuple(self.prefix))  # a config gives a list


@dataclass(frozen=True)
class ChatTemplate:
    """A dialogue in the tokenizer's own chat template: `usr` turns are `user` messages, `sys` turns
    `assistant` messages, and a condition becomes the system message `system_prompt.format(condition=...)`
    (in the first user message instead, for a template with no system role).

    `jinja` replaces the tokenizer's template when set: the template's text, or the path of a `.jinja` file
    (read once, so that checkpoints and exports carry the text, not the path).
    """

    layout: ClassVar[str] = "maeum.data.dialogue.chat_template.ChatTemplateLayout"
    system_prompt: str = "사용자의 감정: {condition}"
    jinja: str | None = None
    kind: str = "chat_template"  # names this class in maeum.json files written before `_target_` was

    def __post_init__(self) -> None:
        if "{condition}" not in self.system_prompt:
            raise DataError(
                f"data.template.system_prompt must contain '{{condition}}', where the condition goes; got"
                f" '{self.system_prompt}'"
            )
        jinja = self.jinja
        if jinja and "{" not in jinja and jinja.strip().endswith(".jinja"):
            path = Path(jinja).expanduser()
            if not path.is_file():
                raise DataError(f"data.template.jinja: no such chat template file: {path}")
            object.__setattr__(self, "jinja", path.read_text(encoding="utf-8"))


TEMPLATES = {
    "chat": Template(),
    "label_response": Template(
        usr="<unused0>",
        sys="<unused2>",
        prefix=("</s>",),
        sys_marker_is_target=True,
        condition_is_target=True,
    ),
    "chat_template": ChatTemplate(),
}
