"""Dialogue records, templates and label masks: the one place where they live.

A `Dialogue` is a list of `Turn`s (user `usr`, system `sys`) and an optional condition (a sentiment, an
emotion or a category). `encode_dialogue` lays it out with a `Template` and marks which tokens are
training targets under a label mask; the causal LM shifts labels itself, so `labels[i]` is `input_ids[i]`
for a target and -100 otherwise.

Templates (`conf/data/template/*.yaml`):

* `chat` (KoGPT2-chatbot): `<usr>{u1}<unused1>{condition}<sys>{s1}<usr>{u2}<sys>{s2}...</s>`, no leading
  bos; `<unused1>{condition}` only when a condition is set, once, after the first user turn.
* `label_response` (the wellness notebook):
  `</s><unused0>{question}<unused1>{category}<unused2>{response}</s>`; the category is generated, so it
  is a target, and so is the `<unused2>` marker.

Label masks:

* `input`: every token (the original leaderboard's "Input");
* `last_sys`: the text of the final sys turn and the closing `</s>` (the leaderboard's "-100", the
  single-turn recipes' answer-only loss); the `<sys>` marker is never a target in `chat`;
* `all_sys`: the text of every sys turn and the closing `</s>` (the leaderboard's "-100+sys");
* `shift`: the leaderboard's "Shift", a documented negative control: inputs `[bos] + tokens`, labels
  `tokens + [eos]`, so a model that shifts again learns to predict two tokens ahead.

Truncation to `max_length`: the oldest whole user/system exchanges go first, then the first remaining user
text is cut from the left; the final sys turn and its `</s>` always survive, unless that turn alone is too
long, and then its tail is cut (and counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from transformers import PreTrainedTokenizerBase

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


@dataclass
class _Segment:
    ids: list[int]
    target_in: frozenset[str]  # the masks under which these tokens are targets
    role: str = ""
    exchange: int = -1


@dataclass
class _Layout:
    segments: list[_Segment] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(s.ids) for s in self.segments)


def encode_dialogue(
    dialogue: Dialogue,
    tokenizer: PreTrainedTokenizerBase,
    *,
    label_mask: str,
    max_length: int,
    template: Template = TEMPLATES["chat"],
    stats: Counter[str] | None = None,
) -> dict[str, list[int]]:
    """`{"input_ids", "labels"}` of one dialogue: equal-length lists, unpadded (padding is the collator's).

    `stats`, when given, counts what truncation did: `dropped_exchanges`, `cut_user_texts`,
    `cut_replies`.
    """
    if label_mask not in LABEL_MASKS:
        raise DataError(f"data.label_mask must be one of {', '.join(LABEL_MASKS)}, not '{label_mask}'")
    exchanges = _exchanges(dialogue)
    budget = max_length - (1 if label_mask == "shift" else 0)  # shift adds a bos
    layout = _truncate(_layout(exchanges, dialogue.condition, tokenizer, template), budget, stats)
    tokens = [t for s in layout.segments for t in s.ids]
    if label_mask == "shift":
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        return {"input_ids": [bos, *tokens], "labels": [*tokens, eos]}
    labels = [t if label_mask in s.target_in else IGNORE_INDEX for s in layout.segments for t in s.ids]
    return {"input_ids": tokens, "labels": labels}


def _exchanges(dialogue: Dialogue) -> list[tuple[str, str]]:
    """(user text, system text) pairs; a dialogue must alternate usr/sys and end with a sys turn."""
    turns = dialogue.turns
    speakers = [t.speaker for t in turns]
    if not turns or len(turns) % 2 or speakers != ["usr", "sys"] * (len(turns) // 2):
        raise DataError(f"a dialogue must alternate usr, sys, ... and end with sys; got {speakers}")
    return [(turns[i].text, turns[i + 1].text) for i in range(0, len(turns), 2)]


def _layout(
    exchanges: list[tuple[str, str]],
    condition: str | None,
    tokenizer: PreTrainedTokenizerBase,
    template: Template,
) -> _Layout:
    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

    def marker(token: str) -> list[int]:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise DataError(f"the tokenizer has no '{token}' token that the dialogue template needs")
        return [token_id]

    everything = frozenset({"input"})
    last = len(exchanges) - 1
    layout = _Layout([_Segment(marker(t), everything, "prefix") for t in template.prefix])
    for n, (user, reply) in enumerate(exchanges):
        reply_masks = everything | {"all_sys"} | ({"last_sys"} if n == last else set())
        layout.segments.append(_Segment(marker(template.usr), everything, "usr_marker", n))
        layout.segments.append(_Segment(ids(user), everything, "usr_text", n))
        if n == 0 and condition:
            cond_masks = reply_masks | {"last_sys"} if template.condition_is_target else everything
            layout.segments.append(_Segment(marker(template.condition), everything, "condition_marker", n))
            layout.segments.append(_Segment(ids(condition), cond_masks, "condition", n))
        sys_masks = reply_masks if template.sys_marker_is_target else everything
        layout.segments.append(_Segment(marker(template.sys), sys_masks, "sys_marker", n))
        layout.segments.append(_Segment(ids(reply), reply_masks, "sys_text", n))
    layout.segments.append(_Segment(marker(template.eos), everything | {"last_sys", "all_sys"}, "eos"))
    return layout


def _truncate(layout: _Layout, budget: int, stats: Counter[str] | None) -> _Layout:
    stats = stats if stats is not None else Counter()
    exchanges = sorted({s.exchange for s in layout.segments if s.exchange >= 0})
    # 1. the oldest whole exchanges (the condition moves to the first exchange that remains)
    while len(layout) > budget and len(exchanges) > 1:
        oldest = exchanges.pop(0)
        kept = [s for s in layout.segments if s.exchange != oldest or s.role.startswith("condition")]
        layout = _Layout(_move_condition(kept, to_exchange=exchanges[0]))
        stats["dropped_exchanges"] += 1
    # 2. the first remaining user text, from the left
    if (overflow := len(layout) - budget) > 0:
        user = next(s for s in layout.segments if s.role == "usr_text")
        cut = min(overflow, len(user.ids))
        if cut:
            user.ids = user.ids[cut:]
            stats["cut_user_texts"] += 1
    # 3. the final reply's tail, when that turn alone is too long; its </s> stays
    if (overflow := len(layout) - budget) > 0:
        reply = [s for s in layout.segments if s.role == "sys_text"][-1]
        if overflow > len(reply.ids):
            raise DataError(f"max_length={budget} cannot hold even the markers of this dialogue")
        reply.ids = reply.ids[: len(reply.ids) - overflow]
        stats["cut_replies"] += 1
    return layout


def _move_condition(segments: list[_Segment], to_exchange: int) -> list[_Segment]:
    """Re-seat the condition segments right after the user text of exchange `to_exchange`."""
    condition = [s for s in segments if s.role.startswith("condition")]
    rest = [s for s in segments if not s.role.startswith("condition")]
    if not condition:
        return rest
    at = next(i for i, s in enumerate(rest) if s.role == "usr_text" and s.exchange == to_exchange) + 1
    for s in condition:
        s.exchange = to_exchange
    return [*rest[:at], *condition, *rest[at:]]
