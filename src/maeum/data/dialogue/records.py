"""Dialogue records and templates: what a dialogue is, and where its markers go.

A `Dialogue` is a list of `Turn`s (user `usr`, system `sys`) and an optional condition (a sentiment, an
emotion or a category). A `Template` says where the markers, the condition and the closing token go
(`conf/data/template/*.yaml`, chosen with `data/template=NAME`; `TEMPLATES` holds the same):

* `chat` (KoGPT2-chatbot): `<usr>{u1}<unused1>{condition}<sys>{s1}<usr>{u2}<sys>{s2}...</s>`, no leading
  bos; `<unused1>{condition}` only when a condition is set, once, after the first user turn.
* `label_response` (the wellness notebook):
  `</s><unused0>{question}<unused1>{category}<unused2>{response}</s>`; the category is generated, so it
  is a target, and so is the `<unused2>` marker.

This module imports neither torch nor Lightning: generation, sessions, loading and the demo need only it
and `maeum.data.dialogue.encoding`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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

    usr: str = "<usr>"
    sys: str = "<sys>"
    condition: str = "<unused1>"
    eos: str = "</s>"
    prefix: tuple[str, ...] = ()
    sys_marker_is_target: bool = False
    condition_is_target: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", tuple(self.prefix))  # a config gives a list


TEMPLATES = {
    "chat": Template(),
    "label_response": Template(
        usr="<unused0>",
        sys="<unused2>",
        prefix=("</s>",),
        sys_marker_is_target=True,
        condition_is_target=True,
    ),
}


def template_from(value: Template | str | Mapping[str, Any]) -> Template:
    """A `Template` from its name in `TEMPLATES`, its fields (a config or `maeum.json`) or itself."""
    if isinstance(value, Template):
        return value
    if isinstance(value, str):
        if value not in TEMPLATES:
            raise DataError(f"unknown dialogue template '{value}': use one of {', '.join(TEMPLATES)}")
        return TEMPLATES[value]
    return Template(**{k: v for k, v in value.items() if not k.startswith("_")})
