"""Dialogue encoding: a `Dialogue` laid out with a `Template` into token ids, with the training targets
of a label mask; the one place where label masks live.

The causal LM shifts labels itself, so `labels[i]` is `input_ids[i]` for a target and -100 otherwise.

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

A `ChatTemplate` (the tokenizer's own chat template) keeps the same contract and the same masks;
`maeum.data.dialogue.chat_template` encodes it, and the functions here hand it over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from transformers import PreTrainedTokenizerBase

from maeum.data.dialogue.chat_template import encode_chat_dialogues, encode_chat_prompt
from maeum.data.dialogue.chat_template import stop_ids as chat_stop_ids
from maeum.data.dialogue.records import (
    IGNORE_INDEX,
    LABEL_MASKS,
    TEMPLATES,
    AnyTemplate,
    ChatTemplate,
    Dialogue,
    Template,
    Turn,
)
from maeum.errors import DataError


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
    template: AnyTemplate = TEMPLATES["chat"],
    stats: Counter[str] | None = None,
    pretokenized: Mapping[str, list[int]] | None = None,
) -> dict[str, list[int]]:
    """`{"input_ids", "labels"}` of one dialogue: equal-length lists, unpadded (padding is the collator's).

    Args:
        label_mask: which tokens are targets: `input`, `last_sys`, `all_sys` or `shift` (module docstring).
        max_length: the longest row; older exchanges go first (module docstring).
        template: where markers, condition and the closing token go.
        stats: when given, counts what truncation did: `dropped_exchanges`, `cut_user_texts`,
            `cut_replies`.
        pretokenized: texts → their ids, from one batched tokenizer call (`pretokenize`); texts missing
            from it are tokenized here.
    """
    if isinstance(template, ChatTemplate):
        return encode_chat_dialogues(
            [dialogue], tokenizer, template, label_mask=label_mask, max_length=max_length, stats=stats
        )[0]
    if label_mask not in LABEL_MASKS:
        raise DataError(f"data.label_mask must be one of {', '.join(LABEL_MASKS)}, not '{label_mask}'")
    exchanges = _exchanges(dialogue)
    budget = max_length - (1 if label_mask == "shift" else 0)  # shift adds a bos
    layout = _layout(exchanges, dialogue.condition, tokenizer, template, pretokenized)
    layout = _truncate(layout, budget, stats)
    tokens = [t for s in layout.segments for t in s.ids]
    if label_mask == "shift":
        bos = tokenizer.bos_token_id
        eos = tokenizer.eos_token_id
        return {"input_ids": [bos, *tokens], "labels": [*tokens, eos]}  # both len(tokens) + 1
    labels = [t if label_mask in s.target_in else IGNORE_INDEX for s in layout.segments for t in s.ids]
    return {"input_ids": tokens, "labels": labels}


def encode_dialogues(
    dialogues: Sequence[Dialogue],
    tokenizer: PreTrainedTokenizerBase,
    *,
    label_mask: str,
    max_length: int,
    template: AnyTemplate = TEMPLATES["chat"],
    stats: Counter[str] | None = None,
) -> list[dict[str, list[int]]]:
    """`encode_dialogue` of every dialogue, with the texts tokenized once, in one batched call; `stats` also
    counts the `truncated_examples`."""
    if isinstance(template, ChatTemplate):
        return encode_chat_dialogues(
            dialogues, tokenizer, template, label_mask=label_mask, max_length=max_length, stats=stats
        )
    pretokenized = pretokenize(dialogues, tokenizer)
    options = {"max_length": max_length, "template": template, "pretokenized": pretokenized}
    rows = []
    for d in dialogues:
        cut: Counter[str] = Counter()
        rows.append(encode_dialogue(d, tokenizer, label_mask=label_mask, stats=cut, **options))
        if stats is not None and cut:
            stats.update(cut)
            stats["truncated_examples"] += 1
    return rows


def stop_ids(tokenizer: PreTrainedTokenizerBase, template: AnyTemplate) -> list[int]:
    """The ids that end a generated reply: `</s>` then the user marker (`<usr>`) in a marker layout (a
    model trained on multi-turn dialogues goes on to write the user's next turn otherwise); the
    end-of-turn tokens and eos in a chat template."""
    if isinstance(template, ChatTemplate):
        return chat_stop_ids(tokenizer, template)
    return [marker_id(tokenizer, t) for t in (template.eos, template.usr)]


def encode_prompt(
    history: Sequence[Turn],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
    condition: str | None = None,
    template: AnyTemplate = TEMPLATES["chat"],
) -> list[int]:
    """Ids that ask the model for the next sys turn, laid out exactly as in training.

    `history` alternates usr/sys and ends on the usr turn to answer. The prompt ends with the marker after
    which the reply begins (`<sys>` in `chat`); where the template generates the condition
    (`label_response`'s category), it ends with the condition marker instead, and `condition` is ignored.
    Oldest exchanges go first, then the first remaining user text is cut from the left, to fit `max_length`.
    A chat template's prompt is its generation prompt (`add_generation_prompt=True`).
    """
    if isinstance(template, ChatTemplate):
        return encode_chat_prompt(history, tokenizer, template, max_length=max_length, condition=condition)
    generated_condition = template.condition_is_target
    dialogue = Dialogue([*history, Turn("sys", "")], None if generated_condition else condition)
    layout = _layout(_exchanges(dialogue), dialogue.condition, tokenizer, template)
    last_user = max(i for i, s in enumerate(layout.segments) if s.role == "usr_text")
    if generated_condition:
        end = _Segment([marker_id(tokenizer, template.condition)], frozenset(), "prompt_end")
        segments = [*layout.segments[: last_user + 1], end]
    else:
        last_marker = max(i for i, s in enumerate(layout.segments) if s.role == "sys_marker")
        segments = layout.segments[: last_marker + 1]
    layout = _truncate(_Layout(segments), max_length, None)
    return [t for s in layout.segments for t in s.ids]


def _exchanges(dialogue: Dialogue) -> list[tuple[str, str]]:
    """(user text, system text) pairs; a dialogue must alternate usr/sys and end with a sys turn."""
    turns = dialogue.turns
    speakers = [t.speaker for t in turns]
    if not turns or len(turns) % 2 or speakers != ["usr", "sys"] * (len(turns) // 2):
        raise DataError(f"a dialogue must alternate usr, sys, ... and end with sys; got {speakers}")
    return [(turns[i].text, turns[i + 1].text) for i in range(0, len(turns), 2)]


def marker_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """The id of a template marker (`<usr>`, `</s>`, ...), or one error when the tokenizer lacks it."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise DataError(
            f"the tokenizer has no '{token}' token, which the dialogue template needs: use a KoGPT2-style"
            " backbone (backbone=tiny_gpt2 or backbone=kogpt2), or a template with this tokenizer's"
            " tokens."
        )
    return token_id


def pretokenize(dialogues: Sequence[Dialogue], tokenizer: PreTrainedTokenizerBase) -> dict[str, list[int]]:
    """The ids of every distinct turn text and condition, from one batched call of the fast tokenizer."""
    texts = sorted(
        {t.text for d in dialogues for t in d.turns} | {d.condition for d in dialogues if d.condition}
    )
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]  # see _layout
    return dict(zip(texts, ids, strict=True))


def _layout(
    exchanges: list[tuple[str, str]],
    condition: str | None,
    tokenizer: PreTrainedTokenizerBase,
    template: Template,
    pretokenized: Mapping[str, list[int]] | None = None,
) -> _Layout:
    def ids(text: str) -> list[int]:
        if not text:
            return []
        if pretokenized is not None and text in pretokenized:
            return list(pretokenized[text])
        # whole, then cut by `_truncate` to max_length (oldest exchanges first): not the tokenizer's
        # "longer than the specified maximum ... indexing errors" warning, which does not hold here
        return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    def marker(token: str) -> list[int]:
        return [marker_id(tokenizer, token)]

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
        final = [s for s in layout.segments if s.role == "sys_text" and s.exchange == exchanges[-1]]
        if not final or overflow > len(final[-1].ids):
            raise DataError(f"max_length={budget} cannot hold even the markers of this dialogue")
        reply = final[-1]
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


def turn_prefixes(dialogue: Dialogue) -> list[Dialogue]:
    """Every prefix of a dialogue that ends on a sys turn (the multi-turn project's augmentation)."""
    return [replace(dialogue, turns=dialogue.turns[:n]) for n in range(2, len(dialogue.turns) + 1, 2)]
