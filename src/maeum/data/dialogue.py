"""Dialogue records, templates and label masks: the one place where they live.

A `Dialogue` is a list of `Turn`s (user `usr`, system `sys`) and an optional condition (a sentiment, an
emotion or a category). `encode_dialogue` lays it out with a `Template` and marks which tokens are
training targets under a label mask; the causal LM shifts labels itself, so `labels[i]` is `input_ids[i]`
for a target and -100 otherwise.

Templates (`conf/data/template/*.yaml`, chosen with `data/template=NAME`; `TEMPLATES` holds the same):

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

`DialogueDataModule` is the one DataModule for every dialogue corpus: it reads (a reader per corpus),
cleans, splits without leaking a first user turn across splits, optionally expands `turn_prefixes`,
encodes every dialogue once (cached) under the run's label mask and, for a comparable metric, under
`last_sys` on the plain layout (`response_*`), and pads each batch to its own longest row.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from maeum.data.cache import Ragged, cached, fingerprint, tokenizer_fingerprint
from maeum.data.datamodule import SplitDataModule
from maeum.data.records import ReadResult
from maeum.data.splits import SPLITS, assemble_splits
from maeum.errors import DataError

log = logging.getLogger(__name__)

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
    pretokenized: Mapping[str, list[int]] | None = None,
) -> dict[str, list[int]]:
    """`{"input_ids", "labels"}` of one dialogue: equal-length lists, unpadded (padding is the collator's).

    `stats`, when given, counts what truncation did: `dropped_exchanges`, `cut_user_texts`,
    `cut_replies`. `pretokenized` maps texts to their ids (from one batched tokenizer call, see
    `pretokenize`); texts missing from it are tokenized here.
    """
    if label_mask not in LABEL_MASKS:
        raise DataError(f"data.label_mask must be one of {', '.join(LABEL_MASKS)}, not '{label_mask}'")
    exchanges = _exchanges(dialogue)
    budget = max_length - (1 if label_mask == "shift" else 0)  # shift adds a bos
    layout = _layout(exchanges, dialogue.condition, tokenizer, template, pretokenized)
    layout = _truncate(layout, budget, stats)
    tokens = [t for s in layout.segments for t in s.ids]
    if label_mask == "shift":
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        return {"input_ids": [bos, *tokens], "labels": [*tokens, eos]}
    labels = [t if label_mask in s.target_in else IGNORE_INDEX for s in layout.segments for t in s.ids]
    return {"input_ids": tokens, "labels": labels}


def encode_prompt(
    history: Sequence[Turn],
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
    condition: str | None = None,
    template: Template = TEMPLATES["chat"],
) -> list[int]:
    """Ids that ask the model for the next sys turn, laid out exactly as in training.

    `history` alternates usr/sys and ends on the usr turn to answer. The prompt ends with the marker after
    which the reply begins (`<sys>` in `chat`); where the template generates the condition
    (`label_response`'s category), it ends with the condition marker instead, and `condition` is ignored.
    Oldest exchanges go first, then the first remaining user text is cut from the left, to fit `max_length`.
    """
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


# ------------------------------------------------------------------------------------------- DataModule
FIELDS = ("input_ids", "labels", "response_input_ids", "response_labels")


def turn_prefixes(dialogue: Dialogue) -> list[Dialogue]:
    """Every prefix of a dialogue that ends on a sys turn (the multi-turn project's augmentation)."""
    return [replace(dialogue, turns=dialogue.turns[:n]) for n in range(2, len(dialogue.turns) + 1, 2)]


class EncodedDialogues(Dataset):
    def __init__(self, encoded: dict[str, Ragged], indices: Sequence[int]) -> None:
        self.encoded, self.indices = encoded, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return {name: ragged[self.indices[i]] for name, ragged in self.encoded.items()}


class DialogueCollator:
    """Pads a batch to its longest row: ids through the tokenizer (which also gives the attention mask),
    labels with -100."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for ids, labels, prefix in (
            ("input_ids", "labels", ""),
            ("response_input_ids", "response_labels", "response_"),
        ):
            padded = self.tokenizer.pad({"input_ids": [r[ids] for r in rows]}, return_tensors="pt")
            batch[ids], batch[f"{prefix}attention_mask"] = padded["input_ids"], padded["attention_mask"]
            label_rows = [torch.tensor(r[labels]) for r in rows]
            batch[labels] = pad_sequence(label_rows, batch_first=True, padding_value=IGNORE_INDEX)
        return batch


class DialogueDataModule(SplitDataModule):
    """The DataModule for any dialogue corpus (see the module docstring).

    Args:
        reader: `reader(path) -> ReadResult[Dialogue]`, usually a `_partial_` from the data config.
        template: a `Template`, the name of one in `TEMPLATES`, or its fields.
        label_mask: `input`, `last_sys`, `all_sys` or `shift`.
        turn_prefixes: expand every training dialogue into its prefixes that end on a sys turn.
        preprocess: a text cleaner applied to every turn (see `maeum.data.preprocess`), or None.
        seed: the split's seed; shuffle_seed: the train loader's (the run's `seed`; `None` takes `seed`).
    """

    def __init__(
        self,
        reader: Callable[[str], ReadResult[Dialogue]],
        path: str,
        tokenizer: str,
        val_path: str | None = None,
        test_path: str | None = None,
        template: Template | str | Mapping[str, Any] = "chat",
        label_mask: str = "last_sys",
        max_length: int = 64,
        turn_prefixes: bool = False,
        preprocess: Callable[[str], str] | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 42,
        num_workers: int = 0,
        pin_memory: bool = False,
        cache_dir: str | None = None,
        shuffle_seed: int | None = None,
    ) -> None:
        if label_mask not in LABEL_MASKS:
            raise DataError(f"data.label_mask must be one of {', '.join(LABEL_MASKS)}, not '{label_mask}'")
        super().__init__(
            reader=reader, path=path, tokenizer=tokenizer, val_path=val_path, test_path=test_path,
            batch_size=batch_size, eval_batch_size=eval_batch_size, val_fraction=val_fraction,
            test_fraction=test_fraction, seed=seed, num_workers=num_workers, pin_memory=pin_memory,
            cache_dir=cache_dir, shuffle_seed=shuffle_seed,
        )  # fmt: skip
        self.label_mask, self.max_length = label_mask, max_length
        self.template = template_from(template)
        self.turn_prefixes, self.preprocess = turn_prefixes, preprocess

    def model_kwargs(self) -> dict[str, object]:
        """What the model keeps about this data: the conditions of the training dialogues (sorted) and
        the names of those that are ids (ChatbotData's `data.reader.condition=id`)."""
        dialogues = self.corpus["dialogues"]
        conditions = sorted({c for i in self.corpus["indices"]["train"] if (c := dialogues[i].condition)})
        names = {c: name for c, name in self.corpus["condition_names"].items() if c in conditions}
        return {"conditions": conditions, "condition_names": names}

    def sample_prompts(self, n: int, split: str = "val") -> list[tuple[Dialogue, str]]:
        """The first `n` dialogues of a split, each as (its history before the final reply, that reply)."""
        dialogues = [self.corpus["dialogues"][i] for i in self.corpus["indices"][split][:n]]
        return [(Dialogue(d.turns[:-1], d.condition), d.turns[-1].text) for d in dialogues]

    def _test_keys(self) -> list[str]:
        dialogues = [self.corpus["dialogues"][i] for i in self.corpus["indices"]["test"]]
        return [json.dumps([d.condition, [[t.speaker, t.text] for t in d.turns]], ensure_ascii=False)
                for d in dialogues]  # fmt: skip

    def test_references(self) -> list[tuple[str, str]]:
        """Each test dialogue's condition and final reply, in loader order."""
        dialogues = [self.corpus["dialogues"][i] for i in self.corpus["indices"]["test"]]
        return [(d.condition or "", d.turns[-1].text) for d in dialogues]

    def _load_corpus(self) -> dict[str, Any]:
        """`dialogues` (every split's, in one list), `indices` (split → rows) and `stats`."""
        reads = {split: self.reader(path) for split, path in self.paths.items() if path}
        dropped: Counter[str] = sum((r.dropped for r in reads.values()), Counter())
        sources = {}
        for split, read in reads.items():
            log.info("%s", read.summary())
            sources[split] = [d for d in map(self._clean, read.records) if d is not None]
            if lost := len(read.records) - len(sources[split]):
                dropped["a turn is empty after cleaning"] += lost
        splits = assemble_splits(
            sources,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            seed=self.seed,
            key=lambda d: d.turns[0].text,
            stratum=lambda d: d.condition or "",
        )
        dialogues, indices = list(splits.examples), {k: list(v) for k, v in splits.indices.items()}
        whole = {split: list(rows) for split, rows in indices.items()}  # before turn_prefixes
        if self.turn_prefixes:  # training only: val/test keep whole dialogues
            expanded = [p for i in indices["train"] for p in turn_prefixes(dialogues[i])]
            indices["train"] = list(range(len(dialogues), len(dialogues) + len(expanded)))
            dialogues += expanded
        dropped.update(splits.dropped)
        stats = {
            "rows_read": sum(r.rows_read for r in reads.values()),
            "rows_kept": sum(len(s) for s in sources.values()) - sum(splits.dropped.values()),
            "dropped": dict(dropped),
            "splits": {name: len(indices[name]) for name in SPLITS},
        }
        log.info("Dialogues %s; dropped %s", stats["splits"], stats["dropped"] or "none")
        names = {raw: name for read in reads.values() for raw, name in read.label_names.items()}
        return {"dialogues": dialogues, "indices": indices, "whole": whole, "stats": stats,
                "condition_names": names}  # fmt: skip

    def stats(self) -> dict[str, Any]:
        """What `maeum-data-stats` prints: the read/split counts, then `dialogues`, `turns` (mean, max),
        `conditions`, `truncated` (dialogues cut to `max_length`, and how) and, per label mask, the target
        tokens of every split's examples (after `turn_prefixes`)."""
        dialogues, indices = self.corpus["dialogues"], self.corpus["indices"]
        whole = [dialogues[i] for split in SPLITS for i in self.corpus["whole"][split]]
        examples = [dialogues[i] for split in SPLITS for i in indices[split]]
        turns = [len(d.turns) for d in whole]
        targets, cuts, truncated = Counter(), Counter(), 0
        pretokenized = pretokenize(examples, self.tokenizer)
        for d in examples:
            cut: Counter[str] = Counter()
            for mask in LABEL_MASKS:
                encoded = encode_dialogue(
                    d, self.tokenizer, label_mask=mask, max_length=self.max_length, template=self.template,
                    stats=cut if mask == "last_sys" else None, pretokenized=pretokenized,
                )  # fmt: skip
                targets[mask] += sum(label != IGNORE_INDEX for label in encoded["labels"])
            truncated += bool(cut)
            cuts.update(cut)
        return {
            **self.corpus["stats"],
            "dialogues": len(whole),
            "examples": len(examples),
            "turns": {"mean": round(sum(turns) / max(len(turns), 1), 2), "max": max(turns, default=0)},
            "conditions": dict(Counter(d.condition or "(none)" for d in whole).most_common()),
            "truncated": {"examples": truncated, **cuts},
            "target_tokens": {mask: targets[mask] for mask in LABEL_MASKS},
        }

    def _clean(self, dialogue: Dialogue) -> Dialogue | None:
        if self.preprocess is None:
            return dialogue
        turns = [Turn(t.speaker, self.preprocess(t.text)) for t in dialogue.turns]
        return None if any(not t.text for t in turns) else Dialogue(turns, dialogue.condition)

    def _encoded(self) -> dict[str, Ragged]:
        dialogues = self.corpus["dialogues"]
        turns = [([(t.speaker, t.text) for t in d.turns], d.condition) for d in dialogues]
        key = fingerprint("dialogue", tokenizer_fingerprint(self.tokenizer), self.label_mask, self.max_length,
                          repr(self.template), turns)  # fmt: skip

        def encode() -> dict[str, Ragged]:
            stats: Counter[str] = Counter()
            pretokenized = pretokenize(dialogues, self.tokenizer)  # tokenize once, in one batch
            options = {"max_length": self.max_length, "template": self.template, "pretokenized": pretokenized}
            columns: dict[str, list[list[int]]] = {name: [] for name in FIELDS}
            for d in dialogues:
                run = encode_dialogue(d, self.tokenizer, label_mask=self.label_mask, stats=stats, **options)
                # the same layout with last_sys labels (for `shift`, the unshifted layout): response metrics
                response = encode_dialogue(d, self.tokenizer, label_mask="last_sys", **options)
                for name, row in zip(FIELDS, (*run.values(), *response.values()), strict=True):
                    columns[name].append(row)
            if stats:
                log.info("Truncation to max_length=%d: %s", self.max_length, dict(stats))
            return {name: Ragged.from_lists(rows) for name, rows in columns.items()}

        return cached(self.cache_dir, key, encode)

    def prepare_data(self) -> None:
        self._encoded()

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            encoded = self._encoded()
            self.datasets = {name: EncodedDialogues(encoded, self.corpus["indices"][name]) for name in SPLITS}

    def collator(self) -> Callable[[list[Any]], Any]:
        return DialogueCollator(self.tokenizer)
