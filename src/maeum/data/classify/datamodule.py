"""Text classification data: records → label ids and token ids → dynamically padded batches.

`ClassificationDataModule` is the one DataModule for every (text, label) corpus; a data config
(`conf/data/classify/<corpus>.yaml`) picks its reader and files. It reads the corpus once, builds the label
vocabulary (kept in the model's checkpoint as names), splits deterministically without leaking duplicate
texts across splits, tokenizes every text once in one batched call of the fast tokenizer, caches the ids,
and pads each batch only to its own longest sequence.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score
from transformers import DataCollatorWithPadding

from maeum.data.cache import Ragged, cached, fingerprint, tokenizer_fingerprint
from maeum.data.datamodule import SplitDataModule
from maeum.data.records import Example, ReadResult
from maeum.data.splits import SPLITS, assemble_splits, normalize_text
from maeum.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Corpus:
    """A read, validated and split corpus: everything that does not depend on the tokenizer."""

    examples: list[Example]
    labels: list[str]  # label vocabulary; a label's id is its index
    label_ids: np.ndarray  # one per example
    indices: dict[str, list[int]]  # split name -> rows of `examples`
    rows_read: int
    dropped: Counter[str]  # reason -> rows
    duplicate_rows: int  # rows whose text repeats an earlier one (kept, always in the same split)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    def stats(self) -> dict[str, object]:
        counts = Counter(self.labels[i] for i in self.label_ids)
        return {
            "rows_read": self.rows_read,
            "rows_kept": len(self.examples),
            "dropped": dict(self.dropped),
            "labels": {name: counts[name] for name in self.labels},
            "splits": {name: len(idx) for name, idx in self.indices.items()},
        }


class EncodedDataset(Dataset):
    """Rows of one split: token ids (unpadded) and a label id."""

    def __init__(self, input_ids: Ragged, label_ids: np.ndarray, indices: Sequence[int]) -> None:
        self.input_ids = input_ids
        self.label_ids = label_ids
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, object]:
        row = self.indices[i]
        return {"input_ids": self.input_ids[row], "labels": int(self.label_ids[row])}


class ClassificationDataModule(SplitDataModule):
    """The DataModule for any (text, label) corpus.

    Args:
        reader: callable `reader(path) -> ReadResult`, usually a `_partial_` from the data config.
        path: the corpus file (the train split, and val/test unless official files are given).
        tokenizer: backbone name or path, as accepted by `maeum.backbones.load_tokenizer`.
        labels: fixed label order. A label outside it is an error; `None` takes the sorted labels found.
        max_length: token budget per text, special tokens included; longer texts are truncated.
        settings: the split, loader and cache settings of every DataModule (`SplitSettings`).
    """

    def __init__(
        self,
        reader: Callable[[str], ReadResult],
        path: str,
        tokenizer: str,
        labels: Sequence[str] | None = None,
        max_length: int = 64,
        **settings: Any,
    ) -> None:
        super().__init__(reader, path, tokenizer, **settings)
        self.fixed_labels = list(labels) if labels is not None else None
        self.max_length = max_length

    # ------------------------------------------------------------------------------------- corpus & labels
    @property
    def corpus(self) -> Corpus:
        return super().corpus

    @property
    def labels(self) -> list[str]:
        return self.corpus.labels

    def stats(self) -> dict[str, object]:
        """What `maeum-data-stats` prints (see `Corpus.stats`)."""
        return self.corpus.stats()

    def model_kwargs(self) -> dict[str, object]:
        """What the model must know about this data: the label names, the train rows per label and, for
        corpora with responses, the response bank of the train split (`build_response_bank`)."""
        rows = self.corpus.indices["train"]
        kwargs: dict[str, object] = {
            "labels": self.labels,
            "class_counts": np.bincount(self.corpus.label_ids[rows], minlength=len(self.labels)).tolist(),
        }
        bank = build_response_bank((self.corpus.examples[i] for i in rows), self.labels)
        if bank is not None:
            kwargs["response_bank"] = bank
            log.info(
                "Response bank: %d responses over %d of %d labels",
                sum(map(len, bank.values())),
                sum(bool(v) for v in bank.values()),
                len(bank),
            )
        return kwargs

    def _test_keys(self) -> list[str]:
        return [
            f"{self.corpus.examples[i].label}\t{self.corpus.examples[i].text}"
            for i in self.corpus.indices["test"]
        ]

    def _load_corpus(self) -> Corpus:
        reads = self.reads()
        labels = self._label_vocabulary(list(reads.values()))
        splits = assemble_splits(
            {split: read.records for split, read in reads.items()},
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            seed=self.seed,
        )
        index = {name: i for i, name in enumerate(labels)}
        corpus = Corpus(
            examples=splits.examples,
            labels=labels,
            label_ids=np.array([index[e.label] for e in splits.examples], dtype=np.int64),
            indices=splits.indices,
            rows_read=sum(read.rows_read for read in reads.values()),
            dropped=sum((read.dropped for read in reads.values()), splits.dropped),
            duplicate_rows=splits.duplicate_rows,
        )
        for read in reads.values():
            log.info("%s", read.summary())
        stats = corpus.stats()
        log.info(
            "Kept %d rows (%d duplicate rows kept within one split); dropped %s",
            stats["rows_kept"],
            splits.duplicate_rows,
            stats["dropped"] or "none",
        )
        log.info("Splits %s, labels %s", stats["splits"], stats["labels"])
        if splits.conflicting_groups:
            log.warning("%d duplicated texts carry different labels", splits.conflicting_groups)
        return corpus

    def _label_vocabulary(self, reads: list[ReadResult]) -> list[str]:
        found = {e.label for read in reads for e in read.records}
        if self.fixed_labels is None:
            return sorted(found)
        for read in reads:
            rows: dict[str, list[int]] = defaultdict(list)
            for e in read.records:
                if e.label not in self.fixed_labels:
                    rows[e.label].append(e.row)
            if rows:
                detail = "; ".join(f"'{lab}' in rows {_first(rows[lab])}" for lab in sorted(rows))
                raise DataError(
                    f"{read.path}: {sum(map(len, rows.values()))} rows carry labels outside data.labels "
                    f"{self.fixed_labels}: {detail}. Fix those rows, or add the labels to data.labels."
                )
        if missing := [lab for lab in self.fixed_labels if lab not in found]:
            log.warning("Labels %s never occur in the data", missing)
        return list(self.fixed_labels)

    # -------------------------------------------------------------------------------------------- tokens
    def _input_ids(self) -> Ragged:
        texts = self.corpus.texts
        key = fingerprint("classification", tokenizer_fingerprint(self.tokenizer), self.max_length, texts)

        def encode() -> dict[str, Ragged]:
            ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
            return {"input_ids": Ragged.from_lists(ids)}

        return cached(self.cache_dir, key, encode)["input_ids"]

    def prepare_data(self) -> None:
        self._input_ids()  # rank 0 fills the on-disk cache before other ranks read it

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        input_ids = self._input_ids()
        truncated = int((input_ids.lengths >= self.max_length).sum())
        if truncated:
            log.info(
                "%d of %d texts reach max_length=%d and are truncated",
                truncated,
                len(input_ids),
                self.max_length,
            )
        for name in SPLITS:
            self.datasets[name] = EncodedDataset(input_ids, self.corpus.label_ids, self.corpus.indices[name])

    # ------------------------------------------------------------------------------------------- loaders
    def collator(self) -> Callable[[list[Any]], Any]:
        return DataCollatorWithPadding(self.tokenizer)  # pads to the batch's longest row

    # ------------------------------------------------------------------------------------------ baseline
    def majority_baseline(self, split: str = "test") -> dict[str, float]:
        """Metrics of always predicting the most frequent training label, computed like the model's."""
        y = self.corpus.label_ids
        indices = self.corpus.indices
        majority = int(np.bincount(y[indices["train"]], minlength=len(self.labels)).argmax())
        target = torch.as_tensor(y[indices[split]])
        preds = torch.full_like(target, majority)
        n = len(self.labels)
        return {
            f"{split}/acc": multiclass_accuracy(preds, target, n, average="micro").item(),
            f"{split}/f1_macro": multiclass_f1_score(preds, target, n, average="macro").item(),
        }


def _first(rows: list[int], k: int = 5) -> str:
    shown = ", ".join(map(str, rows[:k]))
    return shown + (f" and {len(rows) - k} more" if len(rows) > k else "")


def build_response_bank(examples: Iterable[Example], labels: Sequence[str]) -> dict[str, list[str]] | None:
    """The response bank of a corpus with a response column (the retrieval chatbot,
    `maeum.inference.retrieval`): label → its distinct non-empty responses, in first-seen order; None when
    no example has one."""
    bank: dict[str, dict[str, None]] = {label: {} for label in labels}
    for example in examples:
        if response := normalize_text(example.response):
            bank[example.label][response] = None
    if not any(bank.values()):
        return None
    return {label: list(responses) for label, responses in bank.items()}
