"""Dialogue encoding over any layout (`maeum.data.dialogue.layout`): the label masks, truncation and the
dialogue checks, written once over the token spans that a layout gives for its system turns.

The causal LM shifts labels itself, so `labels[i]` is `input_ids[i]` for a target and -100 otherwise.

Label masks:

* `input`: every token (the original leaderboard's "Input");
* `last_sys`: the final system turn's targets (its text and the closing `</s>` or end-of-turn tokens; the
  leaderboard's "-100", the single-turn recipes' answer-only loss);
* `all_sys`: every system turn's targets (the leaderboard's "-100+sys");
* `shift`: the leaderboard's "Shift", a documented negative control: inputs `[start] + tokens`, labels
  `tokens + [eos]` (`start`: bos, or pad where there is none), so a model that shifts again learns to predict
  two tokens ahead.

Truncation to `max_length` (one less for `shift`): the oldest whole user/system exchanges go first (the
condition stays with the first exchange that remains), then the first remaining user text is cut from the
left, then the final reply's tail; the final reply's closing token always survives. Every cut is counted
(`dropped_exchanges`, `cut_user_texts`, `cut_replies`, and `truncated_examples` over a batch). A prompt
(`encode_prompt`) is cut the same way, with no reply to cut.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from maeum.data.dialogue.layout import AnyTurn, Cut, Layout, Rendered, layout_for
from maeum.data.dialogue.records import IGNORE_INDEX, LABEL_MASKS, TEMPLATES, Dialogue, Turn
from maeum.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Row = dict[str, list[int]]


def check_mask(label_mask: str) -> None:
    if label_mask not in LABEL_MASKS:
        raise DataError(f"data.label_mask must be one of {', '.join(LABEL_MASKS)}, not '{label_mask}'")


def check_turns(turns: Sequence[AnyTurn], *, prompt: bool = False) -> None:
    """A dialogue alternates usr, sys, ... and ends with sys; a prompt's history ends with usr instead."""
    speakers = [t.speaker for t in turns]
    alternating = (["usr", "sys"] * (len(turns) // 2 + 1))[: len(turns)]
    ends = "usr" if prompt else "sys"
    if not turns or speakers != alternating or speakers[-1] != ends:
        what = "usr (the turn to answer)" if prompt else "sys"
        raise DataError(f"a dialogue must alternate usr, sys, ... and end with {what}; got {speakers}")


def targets(rendered: Rendered, label_mask: str, layout: Layout) -> Row:
    """`{"input_ids", "labels"}` of a rendered dialogue under a label mask (module docstring)."""
    ids = rendered.ids
    if label_mask == "shift":
        return {"input_ids": [layout.start_id, *ids], "labels": [*ids, layout.tokenizer.eos_token_id]}
    if label_mask == "input":
        return {"input_ids": list(ids), "labels": list(ids)}
    last = max((s.turn for s in rendered.spans), default=-1)
    chosen = [s for s in rendered.spans if label_mask == "all_sys" or s.turn == last]
    labels = [IGNORE_INDEX] * len(ids)
    for span in chosen:
        labels[span.begin : span.end] = ids[span.begin : span.end]
    return {"input_ids": list(ids), "labels": labels}


def budget(label_mask: str, max_length: int) -> int:
    """The tokens a dialogue may take: `shift` adds its start token."""
    return max_length - (1 if label_mask == "shift" else 0)


def fit(
    layout: Layout,
    turns: Sequence[AnyTurn],
    condition: str | None,
    budget: int,
    stats: Counter[str] | None = None,
    *,
    prompt: bool = False,
    rendered: Rendered | None = None,
) -> Rendered:
    """The dialogue (or prompt) rendered within `budget` tokens, cut as the module docstring says."""
    stats = stats if stats is not None else Counter()
    turns = list(turns)
    if rendered is None:
        rendered = layout.render(turns, condition, prompt=prompt)
    while len(rendered) > budget and len(turns) > 2:  # 1. the oldest whole exchanges
        turns = turns[2:]
        stats["dropped_exchanges"] += 1
        rendered = layout.render(turns, condition, prompt=prompt)
    cuts = ((0, "cut_user_texts"),) if prompt else ((0, "cut_user_texts"), (len(turns) - 1, "cut_replies"))
    for index, key in cuts:  # 2. the first user text from the left, 3. the final reply's tail
        if len(rendered) <= budget:
            break
        pieces = layout.pieces(turns[index])
        cut = min(len(rendered) - budget, len(pieces))
        if cut:
            stats[key] += 1
        while 0 < cut <= len(pieces):  # exact in one step where ids concatenate; else again, a bit more
            kept = pieces[cut:] if index == 0 else pieces[: len(pieces) - cut]
            turns[index] = Cut(turns[index].speaker, tuple(kept))
            rendered = layout.render(turns, condition, prompt=prompt)
            if len(rendered) <= budget:
                break
            cut += max(1, len(rendered) - budget)
    if len(rendered) > budget:
        what = "a prompt" if prompt else "this dialogue"
        raise DataError(
            f"max_length={budget} cannot hold even the markers of {what} in {layout.describe} (with its"
            " condition or system prompt): raise data.max_length."
        )
    return rendered


def render_dialogues(
    dialogues: Sequence[Dialogue],
    layout: Layout,
    *,
    budget: int,
    stats: Counter[str] | None = None,
) -> list[Rendered]:
    """Every dialogue rendered within `budget` tokens: checked, rendered in one batch, and cut one by one
    where too long; `stats` counts the cuts and the `truncated_examples`."""
    layout.check()
    for n, dialogue in enumerate(dialogues):
        _checked(n, dialogue, lambda d=dialogue: check_turns(d.turns))
    try:
        renders = layout.render_batch(dialogues)
    except DataError:  # again one by one, to name the dialogue
        renders = [
            _checked(n, d, lambda d=d: layout.render(d.turns, d.condition)) for n, d in enumerate(dialogues)
        ]
    stats = stats if stats is not None else Counter()
    for n, (dialogue, rendered) in enumerate(zip(dialogues, renders, strict=True)):
        if len(rendered) > budget:
            stats["truncated_examples"] += 1
            renders[n] = _checked(
                n, dialogue, lambda d=dialogue, r=rendered: _fit_whole(layout, d, budget, stats, r)
            )
    return renders


def encode_dialogues(
    dialogues: Sequence[Dialogue],
    tokenizer: PreTrainedTokenizerBase,
    *,
    label_mask: str,
    max_length: int,
    template: Any = TEMPLATES["chat"],
    stats: Counter[str] | None = None,
    layout: Layout | None = None,
) -> list[Row]:
    """`{"input_ids", "labels"}` of every dialogue under a label mask (unpadded: padding is the
    collator's); `stats` counts the cuts (`render_dialogues`)."""
    check_mask(label_mask)
    layout = layout or layout_for(template, tokenizer)
    renders = render_dialogues(dialogues, layout, budget=budget(label_mask, max_length), stats=stats)
    return [targets(rendered, label_mask, layout) for rendered in renders]


def encode_dialogue(
    dialogue: Dialogue,
    tokenizer: PreTrainedTokenizerBase,
    *,
    label_mask: str,
    max_length: int,
    template: Any = TEMPLATES["chat"],
    stats: Counter[str] | None = None,
) -> Row:
    """`encode_dialogues` of one dialogue."""
    counts: Counter[str] = Counter()
    (row,) = encode_dialogues(
        [dialogue], tokenizer, label_mask=label_mask, max_length=max_length, template=template, stats=counts
    )
    counts.pop("truncated_examples", None)
    if stats is not None:
        stats.update(counts)
    return row


def encode_prompt(
    history: Sequence[Turn],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
    condition: str | None = None,
    template: Any = TEMPLATES["chat"],
    layout: Layout | None = None,
) -> list[int]:
    """Ids that ask the model for the next system turn, laid out exactly as in training.

    `history` alternates usr/sys and ends on the usr turn to answer. The prompt ends where the reply begins
    (`<sys>` in `chat`, the generation prompt in a chat template); in a layout that generates the condition
    (`label_response`'s category), it ends with the condition marker instead, and `condition` is ignored.
    """
    layout = layout or layout_for(template, tokenizer)
    check_turns(history, prompt=True)
    return fit(layout, history, condition, max_length, prompt=True).ids


def stop_ids(tokenizer: PreTrainedTokenizerBase, template: Any) -> list[int]:
    """The ids that end a generated reply (the layout's `stops`, in order)."""
    return list(layout_for(template, tokenizer).stops())


def turn_prefixes(dialogue: Dialogue) -> list[Dialogue]:
    """Every prefix of a dialogue that ends on a sys turn (the multi-turn project's augmentation)."""
    return [replace(dialogue, turns=dialogue.turns[:n]) for n in range(2, len(dialogue.turns) + 1, 2)]


def _fit_whole(
    layout: Layout, dialogue: Dialogue, room: int, stats: Counter[str], rendered: Rendered
) -> Rendered:
    return fit(layout, dialogue.turns, dialogue.condition, room, stats, rendered=rendered)


def _checked(n: int, dialogue: Dialogue, step: Any) -> Any:
    """`step()`, with the dialogue named in its `DataError`."""
    try:
        return step()
    except DataError as err:
        first = next((t.text for t in dialogue.turns if t.speaker == "usr"), "")
        raise DataError(f"dialogue {n} (first user turn {first[:30]!r}): {err}") from None
