"""Token streams and the blocks cut from them, nanoGPT's way: every split's documents are tokenized once,
in batches, into one flat memory-mapped `uint16` (or `uint32`, for vocabularies past 65,535) array, with a
separator token before each document; a block is a slice of it.

Next to the ids, each token's character count (`chars`, `uint16`): the characters from the end of the
previous token through the end of this one, taken from the fast tokenizer's offsets. A document's
separator counts 1 (its line end) plus any characters the tokens did not cover, so the stream's character
counts sum to the text's, and bits per character (`val/bpc`) compare across tokenizers.

* `causal` blocks are `block_size` tokens that overlap by one, so every token after the first is a target
  exactly once (the model predicts position t+1 from t);
* `masked` blocks are `[CLS]`, `block_size - 2` tokens of the stream, `[SEP]`, as BERT sees them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)
OBJECTIVES = ("causal", "masked")
BATCH = 2048  # documents per tokenizer call


class TokenStream:
    """One split's memory-mapped ids and character counts."""

    def __init__(self, ids: np.ndarray, chars: np.ndarray) -> None:
        self.ids, self.chars = ids, chars

    @classmethod
    def open(cls, prefix: Path, dtype: str) -> TokenStream:
        ids = np.memmap(f"{prefix}.ids.bin", dtype=dtype, mode="r")
        chars = np.memmap(f"{prefix}.chars.bin", dtype=np.uint16, mode="r")
        return cls(ids, chars)

    def __len__(self) -> int:
        return len(self.ids)


def ids_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 2**16 else "uint32"


def write_stream(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    separator_id: int,
    prefix: Path,
    *,
    max_doc_tokens: int,
) -> dict[str, int]:
    """Tokenize `texts` into `<prefix>.ids.bin` / `<prefix>.chars.bin`; return the counts to report.

    `max_doc_tokens` is a block's share of the stream: longer documents are split across blocks (counted).
    """
    dtype = ids_dtype(len(tokenizer))
    stats: Counter[str] = Counter()
    with open(f"{prefix}.ids.bin", "wb") as f_ids, open(f"{prefix}.chars.bin", "wb") as f_chars:
        f_ids.write(np.array([separator_id], dtype=dtype).tobytes())  # the first document's context
        f_chars.write(np.zeros(1, dtype=np.uint16).tobytes())
        for start in range(0, len(texts), BATCH):
            batch = list(texts[start : start + BATCH])
            encoded = tokenizer(batch, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
            ids: list[int] = []
            chars: list[int] = []
            rows = zip(batch, encoded["input_ids"], encoded["offset_mapping"], strict=True)
            for text, doc_ids, offsets in rows:
                if not doc_ids:
                    stats["documents without tokens"] += 1
                    continue
                ends = np.maximum.accumulate(np.array([end for _, end in offsets], dtype=np.int64))
                counts = np.diff(ends, prepend=0)
                ids += [*doc_ids, separator_id]
                chars += [*counts.tolist(), 1 + len(text) - int(ends[-1])]
                stats["documents"] += 1
                stats["characters"] += len(text) + 1
                stats["documents longer than a block (split)"] += len(doc_ids) + 1 > max_doc_tokens
            f_ids.write(np.asarray(ids, dtype=dtype).tobytes())
            f_chars.write(
                np.minimum(np.asarray(chars, dtype=np.int64), 2**16 - 1).astype(np.uint16).tobytes()
            )
            stats["tokens"] += len(ids)
    stats["tokens"] += 1
    return dict(stats)


def cached_streams(
    cache_dir: Path | None,
    key: str,
    splits: dict[str, Sequence[str]] | Any,
    tokenizer: PreTrainedTokenizerBase,
    separator_id: int,
    max_doc_tokens: int,
) -> tuple[dict[str, TokenStream], dict[str, dict[str, int]]]:
    """The splits' streams, written once per `key` under `<cache_dir>/text/<key>` (a temporary directory
    renamed into place, so concurrent runs never read half a stream). `splits` is a mapping, or a callable
    returning one, read only when the streams are not cached yet."""
    root = Path(cache_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"maeum-text-{os.getpid()}")
    target = root.expanduser() / "text" / key
    meta_file = target / "meta.json"
    if not meta_file.is_file():
        texts = splits() if callable(splits) else splits
        tmp = target.with_name(f"{key}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.mkdir(parents=True)
        try:
            stats = {
                name: write_stream(docs, tokenizer, separator_id, tmp / name, max_doc_tokens=max_doc_tokens)
                for name, docs in texts.items()
            }
            meta = {"dtype": ids_dtype(len(tokenizer)), "stats": stats}
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
            try:
                tmp.rename(target)
            except OSError:  # another process wrote the same streams first
                if not meta_file.is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("Cached token streams in %s", target)
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    streams = {name: TokenStream.open(target / name, meta["dtype"]) for name in meta["stats"]}
    return streams, meta["stats"]


class TextBlocks(Dataset):
    """Fixed-length blocks of a stream. Index `k` is a *draw*: block `k % len(blocks)`, so that a sampler
    can hand out `epoch · n + i` and masking seeded by the draw differs from epoch to epoch."""

    def __init__(
        self,
        stream: TokenStream,
        block_size: int,
        objective: str,
        cls_id: int | None = None,
        sep_id: int | None = None,
    ) -> None:
        self.stream, self.block_size, self.objective = stream, block_size, objective
        self.cls_id, self.sep_id = cls_id, sep_id
        self.stride = block_size - 1 if objective == "causal" else block_size - 2
        targets = len(stream) - 1 if objective == "causal" else len(stream)  # causal: the first is context
        self.n = max(1, math.ceil(targets / self.stride))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> dict[str, Any]:
        start = (k % self.n) * self.stride
        end = start + (self.block_size if self.objective == "causal" else self.stride)
        ids = torch.from_numpy(self.stream.ids[start:end].astype(np.int64))
        chars = torch.from_numpy(self.stream.chars[start:end].astype(np.int64))
        if self.objective == "masked":
            ids = torch.cat([torch.tensor([self.cls_id]), ids, torch.tensor([self.sep_id])])
            chars = torch.cat([torch.zeros(1, dtype=torch.long), chars, torch.zeros(1, dtype=torch.long)])
        return {"input_ids": ids, "chars": chars, "draw": int(k)}
