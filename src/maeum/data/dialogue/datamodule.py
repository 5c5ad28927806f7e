"""`DialogueDataModule`, the one DataModule for every dialogue corpus.

It reads (a reader per corpus), cleans, splits without leaking a first user turn (`split_by=dialogue`: a
whole dialogue) across splits, optionally expands `turn_prefixes`, encodes every dialogue once (cached)
under the run's label mask and, for a comparable metric, under `last_sys` on the plain layout
(`response_*`), and pads each batch to its own longest row. Records and templates are in
`maeum.data.dialogue.records`, the layouts behind `maeum.data.dialogue.layout`, label masks and truncation
in `maeum.data.dialogue.encoding`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from maeum.data.cache import Ragged, cached, fingerprint, tokenizer_fingerprint
from maeum.data.datamodule import SplitDataModule
from maeum.data.dialogue.encoding import (
    budget,
    check_mask,
    encode_dialogues,
    render_dialogues,
    targets,
    turn_prefixes,
)
from maeum.data.dialogue.layout import Layout, layout_for, template_from
from maeum.data.dialogue.records import IGNORE_INDEX, LABEL_MASKS, Dialogue, Turn
from maeum.data.records import ReadResult
from maeum.data.splits import SPLITS, assemble_splits
from maeum.errors import DataError

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------- DataModule
FIELDS = ("input_ids", "labels", "response_input_ids", "response_labels")
# data.split_by -> the text that groups dialogues for the split (`maeum.data.splits.assemble_splits`)
SPLIT_KEYS: dict[str, Callable[[Dialogue], str]] = {
    "first_usr": lambda d: d.turns[0].text,
    "dialogue": lambda d: "\n".join(t.text for t in d.turns),
}


@dataclass
class DialogueCorpus:
    """A read, cleaned and split dialogue corpus: everything that does not depend on the tokenizer."""

    dialogues: list[Dialogue]  # every split's, in one list (training prefixes appended at the end)
    indices: dict[str, list[int]]  # split name -> rows of `dialogues` (after `turn_prefixes`)
    whole: dict[str, list[int]]  # split name -> rows of the whole dialogues (before `turn_prefixes`)
    rows_read: int
    rows_kept: int
    dropped: Counter[str]  # reason -> rows
    condition_names: dict[str, str] = field(default_factory=dict)  # raw condition -> its name

    def split(self, name: str) -> list[Dialogue]:
        return [self.dialogues[i] for i in self.indices[name]]

    def stats(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "splits": {name: len(self.indices[name]) for name in SPLITS},
        }


class EncodedDialogues(Dataset):
    def __init__(self, encoded: dict[str, Ragged], indices: Sequence[int]) -> None:
        self.encoded = encoded
        self.indices = list(indices)

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
            rows_ids = {"input_ids": [r[ids] for r in rows]}
            padded = self.tokenizer.pad(rows_ids, padding_side="right", return_tensors="pt")  # as the labels
            batch[ids] = padded["input_ids"]
            batch[f"{prefix}attention_mask"] = padded["attention_mask"]
            label_rows = [torch.tensor(r[labels]) for r in rows]
            batch[labels] = pad_sequence(label_rows, batch_first=True, padding_value=IGNORE_INDEX)
        return batch


class DialogueDataModule(SplitDataModule):
    """The DataModule for any dialogue corpus (see the module docstring).

    Args:
        reader: `reader(path) -> ReadResult[Dialogue]`, usually a `_partial_` from the data config.
        template: a dialogue template (`Template`, `ChatTemplate`, ...), the name of one in `TEMPLATES`, or
            its fields (`maeum.data.dialogue.layout.template_from`).
        label_mask: `input`, `last_sys`, `all_sys` or `shift`.
        turn_prefixes: expand every training dialogue into its prefixes that end on a sys turn.
        preprocess: a text cleaner applied to every turn (see `maeum.data.preprocess`), or None.
        split_by: what groups dialogues so that a group never straddles two splits: `first_usr`, their
            first user turn (a repeated question), or `dialogue`, all their turns (for corpora whose
            dialogues open with the same greetings, such as XPersona).
        settings: the split, loader and cache settings of every DataModule (`SplitSettings`: official
            val/test files and their readers, fractions, seeds, batch sizes, workers, cache).
    """

    def __init__(
        self,
        reader: Callable[[str], ReadResult[Dialogue]],
        path: str,
        tokenizer: str,
        template: Any = "chat",
        label_mask: str = "last_sys",
        max_length: int = 64,
        turn_prefixes: bool = False,
        preprocess: Callable[[str], str] | None = None,
        split_by: str = "first_usr",
        **settings: Any,
    ) -> None:
        check_mask(label_mask)
        if split_by not in SPLIT_KEYS:
            raise DataError(f"data.split_by must be one of {', '.join(SPLIT_KEYS)}, not '{split_by}'")
        super().__init__(reader, path, tokenizer, **settings)
        self.label_mask = label_mask
        self.max_length = max_length
        self.template = template_from(template)
        self.turn_prefixes = turn_prefixes
        self.preprocess = preprocess
        self.split_by = split_by
        self._layout: Layout | None = None
        self._columns: dict[str, Ragged] | None = None

    @property
    def layout(self) -> Layout:
        """The template's layout for this data's tokenizer."""
        if self._layout is None:
            self._layout = layout_for(self.template, self.tokenizer)
        return self._layout

    def model_kwargs(self) -> dict[str, object]:
        """What the model keeps about this data: the conditions of the training dialogues (sorted) and
        the names of those that are ids (ChatbotData's `data.reader.condition=id`)."""
        conditions = sorted({c for d in self.corpus.split("train") if (c := d.condition)})
        names = {c: name for c, name in self.corpus.condition_names.items() if c in conditions}
        return {"conditions": conditions, "condition_names": names}

    def sample_prompts(self, n: int, split: str = "val") -> list[tuple[Dialogue, str]]:
        """The first `n` dialogues of a split, each as (its history before the final reply, that reply)."""
        dialogues = self.corpus.split(split)[:n]
        return [(Dialogue(d.turns[:-1], d.condition), d.turns[-1].text) for d in dialogues]

    def _test_keys(self) -> list[str]:
        dialogues = self.corpus.split("test")
        return [
            json.dumps([d.condition, [[t.speaker, t.text] for t in d.turns]], ensure_ascii=False)
            for d in dialogues
        ]

    def test_references(self) -> list[tuple[str, str]]:
        """Each test dialogue's condition and final reply, in loader order."""
        dialogues = self.corpus.split("test")
        return [(d.condition or "", d.turns[-1].text) for d in dialogues]

    def _load_corpus(self) -> DialogueCorpus:
        reads = self.reads()
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
            key=SPLIT_KEYS[self.split_by],
            stratum=lambda d: d.condition or "",
        )
        dialogues = list(splits.examples)
        indices = {k: list(v) for k, v in splits.indices.items()}
        whole = {split: list(rows) for split, rows in indices.items()}  # before turn_prefixes
        if self.turn_prefixes:  # training only: val/test keep whole dialogues
            expanded = [p for i in indices["train"] for p in turn_prefixes(dialogues[i])]
            indices["train"] = list(range(len(dialogues), len(dialogues) + len(expanded)))
            dialogues += expanded
        dropped.update(splits.dropped)
        corpus = DialogueCorpus(
            dialogues=dialogues,
            indices=indices,
            whole=whole,
            rows_read=sum(r.rows_read for r in reads.values()),
            rows_kept=sum(len(s) for s in sources.values()) - sum(splits.dropped.values()),
            dropped=dropped,
            condition_names={raw: name for read in reads.values() for raw, name in read.label_names.items()},
        )
        log.info("Dialogues %s; dropped %s", corpus.stats()["splits"], dict(dropped) or "none")
        return corpus

    def stats(self) -> dict[str, Any]:
        """What `maeum-data-stats` prints: the read/split counts, then `dialogues`, `turns` (mean, max),
        `conditions`, `truncated` (dialogues cut to `max_length`, and how) and, per label mask, the target
        tokens of every split's examples (after `turn_prefixes`)."""
        corpus = self.corpus
        whole = [corpus.dialogues[i] for split in SPLITS for i in corpus.whole[split]]
        examples = [d for split in SPLITS for d in corpus.split(split)]
        turns = [len(d.turns) for d in whole]
        targets = Counter()
        cuts: Counter[str] = Counter()
        options = {"max_length": self.max_length, "layout": self.layout}
        for mask in LABEL_MASKS:
            cut: Counter[str] = Counter()
            rows = encode_dialogues(examples, self.tokenizer, label_mask=mask, stats=cut, **options)
            targets[mask] += sum(label != IGNORE_INDEX for row in rows for label in row["labels"])
            if mask == "last_sys":
                cuts = cut
        truncated = cuts.pop("truncated_examples", 0)
        return {
            **corpus.stats(),
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
        turns = tuple(Turn(t.speaker, self.preprocess(t.text)) for t in dialogue.turns)
        return None if any(not t.text for t in turns) else replace(dialogue, turns=turns)

    def _encoded(self) -> dict[str, Ragged]:
        """The encoded columns of every dialogue, once per DataModule (`prepare_data` then `setup`), from
        the disk cache when another run encoded the same data (its key hashes the tokenizer, template,
        mask, length and every turn)."""
        if self._columns is None:
            self._columns = self._encode_or_load()
        return self._columns

    def _encode_or_load(self) -> dict[str, Ragged]:
        dialogues = self.corpus.dialogues
        turns = [([(t.speaker, t.text) for t in d.turns], d.condition) for d in dialogues]
        key = fingerprint(
            "dialogue",
            tokenizer_fingerprint(self.tokenizer),
            self.label_mask,
            self.max_length,
            repr(self.template),
            turns,
        )

        self.layout.check()  # one message, before anything is encoded

        def encode() -> dict[str, Ragged]:
            stats: Counter[str] = Counter()
            mask, layout = self.label_mask, self.layout
            room = budget(mask, self.max_length)
            renders = render_dialogues(dialogues, layout, budget=room, stats=stats)
            run = [targets(r, mask, layout) for r in renders]
            # the final reply under last_sys (for `shift`, unshifted, at the full length): response metrics
            if room != budget("last_sys", self.max_length):
                renders = render_dialogues(dialogues, layout, budget=budget("last_sys", self.max_length))
            response = [targets(r, "last_sys", layout) for r in renders]
            stats.pop("truncated_examples", None)
            if stats:
                log.info("Truncation to max_length=%d: %s", self.max_length, dict(stats))
            columns = {
                "input_ids": [r["input_ids"] for r in run],
                "labels": [r["labels"] for r in run],
                "response_input_ids": [r["input_ids"] for r in response],
                "response_labels": [r["labels"] for r in response],
            }
            return {name: Ragged.from_lists(rows) for name, rows in columns.items()}

        return cached(self.cache_dir, key, encode)

    def prepare_data(self) -> None:
        self._encoded()

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            encoded = self._encoded()
            self.datasets = {name: EncodedDialogues(encoded, self.corpus.indices[name]) for name in SPLITS}

    def collator(self) -> Callable[[list[Any]], Any]:
        return DialogueCollator(self.tokenizer)
