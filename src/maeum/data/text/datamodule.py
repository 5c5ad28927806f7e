"""`TextDataModule`: raw Korean text as a pretraining task (causal LM or masked LM blocks).

Documents are read from text files (`maeum.data.text.documents`), split by a hash of each document, and
tokenized once into memory-mapped streams under the cache (`maeum.data.text.blocks`). The train loader
draws blocks in a seeded order per epoch (`DrawSampler`, a `DistributedSampler`), which `StatefulDataLoader`
saves in every checkpoint, so a run resumed mid-epoch sees the same blocks and the same masks.

Masked LM uses `transformers.DataCollatorForLanguageModeling` (15% of the tokens, 80/10/10 mask/random/
keep, special tokens never chosen) with a generator seeded by the batch's draws: masks are fresh every
epoch (RoBERTa's dynamic masking), fixed for validation, and reproduced exactly on resume.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data.distributed import DistributedSampler
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from maeum.data.cache import fingerprint, tokenizer_fingerprint
from maeum.data.datamodule import SplitDataModule
from maeum.data.dialogue.records import IGNORE_INDEX
from maeum.data.splits import SPLITS
from maeum.data.text.blocks import OBJECTIVES, TextBlocks, TokenStream, cached_streams
from maeum.data.text.documents import Documents, expand_paths, hash_split, read_documents, sha256_of
from maeum.errors import DataError

log = logging.getLogger(__name__)
STREAM_VERSION = 1  # bump when the stream layout changes; part of the cache key


class DrawSampler(DistributedSampler):
    """`DistributedSampler` whose indices are draws: block i of epoch e is `e · n + i` (`TextBlocks`)."""

    def __iter__(self) -> Iterator[int]:
        offset = self.epoch * len(self.dataset)
        return (offset + i for i in super().__iter__())


class BlockCollator:
    """Stacks blocks (padding a short last block) into `input_ids`, `attention_mask`, `labels` and the
    targets' character counts `chars`; for `masked`, chooses the masks from the batch's draws."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, objective: str, seed: int, mlm_probability: float = 0.15
    ) -> None:
        self.objective, self.seed = objective, seed
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.special = torch.tensor(sorted(tokenizer.all_special_ids))
        self.masker = None
        if objective == "masked":
            self.masker = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = pad_sequence([r["input_ids"] for r in rows], batch_first=True, padding_value=self.pad_id)
        chars = pad_sequence([r["chars"] for r in rows], batch_first=True, padding_value=0)
        attention = pad_sequence(
            [torch.ones(len(r["input_ids"]), dtype=torch.long) for r in rows], batch_first=True
        )
        if self.masker is None:
            labels = ids.masked_fill(attention == 0, IGNORE_INDEX)
        else:
            draws = ",".join(str(r["draw"]) for r in rows)
            digest = hashlib.blake2b(f"{self.seed}:{draws}".encode(), digest_size=8).digest()
            self.masker.generator = torch.Generator().manual_seed(int.from_bytes(digest, "big") >> 1)
            special = torch.isin(ids, self.special) | (attention == 0)
            ids, labels = self.masker.torch_mask_tokens(ids.clone(), special_tokens_mask=special)
        return {"input_ids": ids, "attention_mask": attention, "labels": labels, "chars": chars}


class TextDataModule(SplitDataModule):
    """Blocks of raw text for pretraining.

    Args:
        path: text files or globs (a list of them too): one document per line (`layout: line`) or
            documents separated by blank lines (`layout: paragraph`). May be null when only `test_path`
            is tested (`maeum-eval`).
        tokenizer: the backbone or tokenizer directory whose ids the blocks hold.
        objective: `causal` (next-token blocks) or `masked` (BERT's masked LM); the model's.
        block_size: tokens per block, at most the model's positions.
        val_path, test_path: files that are the validation / test documents instead of a hash split.
        val_fraction, test_fraction: the hash split's shares; `seed` salts the hash.
        mlm_probability: the masked share for `masked`.
        The rest as for every maeum DataModule (`maeum.data.datamodule.SplitDataModule`).
    """

    sampler_class = DrawSampler

    def __init__(
        self,
        path: str | Sequence[str] | None,
        tokenizer: str,
        objective: str = "causal",
        layout: str = "line",
        block_size: int = 128,
        mlm_probability: float = 0.15,
        **settings: Any,
    ) -> None:
        if objective not in OBJECTIVES:
            raise DataError(f"data.objective={objective!r}: choose one of {', '.join(OBJECTIVES)}")
        if block_size < 4:
            raise DataError(f"data.block_size={block_size}: a block needs at least 4 tokens")
        shares = {"val_fraction": 0.01, "test_fraction": 0.0}  # a corpus of millions of lines: 1% validates
        reader = functools.partial(read_documents, layout=layout)
        super().__init__(reader, path, tokenizer, **{**shares, **settings})
        self.objective, self.layout, self.block_size = objective, layout, block_size
        self.mlm_probability = mlm_probability
        self.streams: dict[str, TokenStream] = {}
        self.counts: dict[str, dict[str, int]] = {}

    def model_kwargs(self) -> dict[str, object]:
        return {"tokenizer": self.tokenizer_name}

    @property
    def separator_id(self) -> int:
        """The token between documents: `</s>` (eos) for causal LMs, `[SEP]` for masked ones."""
        tok = self.tokenizer
        if self.objective == "masked" and (tok.mask_token_id is None or tok.cls_token_id is None):
            raise DataError(
                f"{self.tokenizer_name}: masked LM needs a mask token and a [CLS] token, and this tokenizer "
                f"has mask_token={tok.mask_token!r}, cls_token={tok.cls_token!r}. Use a BERT-style tokenizer "
                "(`maeum-tokenizer train --style kobert`) or objective=causal."
            )
        token_id = tok.eos_token_id if self.objective == "causal" else tok.sep_token_id
        if token_id is None:
            role = "eos_token" if self.objective == "causal" else "sep_token"
            raise DataError(f"{self.tokenizer_name}: the tokenizer has no {role} to put between documents")
        return token_id

    def _files(self) -> dict[str, list[Path]]:
        return {split: expand_paths(p) for split, p in self.paths.items() if p}

    def _load_corpus(self) -> dict[str, list[str]]:
        """Each split's documents: its own file, or the hash split of `path`'s documents."""
        read: dict[str, Documents] = self.reads()
        for split, docs in read.items():
            log.info("Text (%s): %s", split, docs.summary())
        splits: dict[str, list[str]] = {s: [] for s in SPLITS}
        if "train" in read:
            fractions = (
                0.0 if "val" in read else self.val_fraction,
                0.0 if "test" in read else self.test_fraction,
            )
            names = hash_split(read["train"].texts, *fractions, seed=self.seed)
            for text, name in zip(read["train"].texts, names, strict=True):
                splits[name].append(text)
        for split in ("val", "test"):
            if split in read:
                splits[split] = read[split].texts
        return splits

    def _stream_key(self) -> str:
        files = {s: [(str(f), sha256_of(f)) for f in fs] for s, fs in self._files().items()}
        fractions = (self.val_fraction, self.test_fraction)
        settings = (self.layout, fractions, self.seed, self.separator_id, self.block_size, STREAM_VERSION)
        return fingerprint(tokenizer_fingerprint(self.tokenizer), files, settings)

    def setup(self, stage: str | None = None) -> None:
        if not self.streams:
            self._open_streams()
        needed = ["test"] if stage == "test" else ["train", "val"] if stage == "fit" else list(SPLITS)
        for split in needed:
            if split not in self.datasets and (split != "test" or stage == "test"):
                raise DataError(
                    f"the {split} split has no documents: give data.{split}_path, or raise data.val_fraction "
                    f"/ data.test_fraction (now {self.val_fraction} / {self.test_fraction})"
                )

    def _open_streams(self) -> None:
        streams, counts = cached_streams(
            Path(self.cache_dir) if self.cache_dir else None,
            self._stream_key(),
            lambda: self.corpus,
            self.tokenizer,
            self.separator_id,
            self.block_size - (1 if self.objective == "causal" else 2),
        )
        self.streams, self.counts = streams, counts
        tok = self.tokenizer
        for split, stream in streams.items():
            if counts[split].get("documents"):
                self.datasets[split] = TextBlocks(
                    stream, self.block_size, self.objective, tok.cls_token_id, tok.sep_token_id
                )
        log.info(
            "Text blocks of %d tokens: %s",
            self.block_size,
            {s: {**counts[s], "blocks": len(d)} for s, d in self.datasets.items()},
        )

    def collator(self) -> Callable[[list[Any]], Any]:
        return BlockCollator(self.tokenizer, self.objective, self.shuffle_seed, self.mlm_probability)

    def _test_keys(self) -> list[str]:
        data = self.datasets["test"]
        return [f"block-{i}-of-{len(data)}" for i in range(len(data))]
