"""Token ids that are computed once and cached on disk.

Sequences are stored nanoGPT-style as one flat int32 array plus offsets (`Ragged`), so a corpus of
hundreds of thousands of sentences costs a few megabytes and loads in milliseconds. The cache key is a
hash of everything the ids depend on (the tokenizer's full definition, the texts, the encoding settings),
so a stale cache cannot be read by mistake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)


class Ragged:
    """A sequence of int sequences stored as one flat array plus offsets."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        self.flat = flat
        self.offsets = offsets

    @classmethod
    def from_lists(cls, seqs: Sequence[Sequence[int]]) -> Ragged:
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter((t for s in seqs for t in s), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> list[int]:
        return self.flat[self.offsets[i] : self.offsets[i + 1]].tolist()

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def fingerprint(*parts: object) -> str:
    """A short, stable hash of JSON-serialisable parts."""
    payload = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """Hash of everything that decides a tokenizer's ids (its whole `tokenizer.json` when it is fast)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        definition: object = sorted(tokenizer.get_vocab().items())
    else:  # truncation and padding are per-call settings that the backend remembers: not part of the key
        definition = {
            k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")
        }
    chat_template = getattr(tokenizer, "chat_template", None)  # the layout of data/template=chat_template
    return fingerprint(type(tokenizer).__name__, definition, tokenizer.special_tokens_map, chat_template)


def cached(
    cache_dir: str | Path | None, key: str, compute: Callable[[], dict[str, Ragged]]
) -> dict[str, Ragged]:
    """`compute()` once per key: later calls load `<cache_dir>/<key>.npz`. No cache_dir: no caching."""
    if cache_dir is None:
        return compute()
    path = Path(cache_dir).expanduser() / f"{key}.npz"
    if path.is_file():
        with np.load(path) as npz:
            return {name: Ragged(npz[f"{name}.flat"], npz[f"{name}.offsets"]) for name in _names(npz.files)}
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp-{uuid.uuid4().hex[:8]}.npz")
    arrays = {f"{n}.{part}": getattr(r, part) for n, r in result.items() for part in ("flat", "offsets")}
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: concurrent runs never see half a file
    log.info("Cached token ids in %s", path)
    return result


def _names(files: Iterable[str]) -> list[str]:
    return sorted({f.rsplit(".", 1)[0] for f in files})
