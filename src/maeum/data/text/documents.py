"""Documents of raw text files: read (strict UTF-8), counted and split into train/val/test by a hash of
each document, so that two copies of one document always land in the same split."""

from __future__ import annotations

import glob
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from maeum.errors import DataError

log = logging.getLogger(__name__)
LAYOUTS = ("line", "paragraph")  # one document per line | documents separated by blank lines


@dataclass
class Documents:
    """The documents of some files, with what was skipped."""

    texts: list[str]
    files: list[Path]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return f"{len(self.texts)} documents from {len(self.files)} file(s); skipped: {skipped}"


def expand_paths(paths: str | Sequence[str]) -> list[Path]:
    """Files named by paths or globs (sorted within each glob); one error for a pattern matching nothing."""
    patterns = [paths] if isinstance(paths, str) else list(paths)
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(Path(pattern).expanduser()))) if glob.has_magic(pattern) else []
        if not matches and Path(pattern).expanduser().is_file():
            matches = [str(Path(pattern).expanduser())]
        if not matches:
            raise DataError(f"{pattern}: no such text file (data.path takes files and globs of UTF-8 text)")
        files += [Path(m) for m in matches]
    return list(dict.fromkeys(files))


def read_text(path: Path) -> str:
    """A file's text, strictly UTF-8 (a BOM is dropped); one error naming the first bad byte's offset."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 (first bad byte at offset {err.start}). Re-save it as UTF-8, e.g. "
            f"`iconv -f cp949 -t utf-8`."
        ) from err


def read_documents(paths: str | Sequence[str], layout: str = "line") -> Documents:
    """Every document of the files `paths`, in file order. Empty documents are skipped and counted."""
    if layout not in LAYOUTS:
        raise DataError(f"data.layout={layout!r}: choose one of {', '.join(LAYOUTS)}")
    files = expand_paths(paths)
    texts: list[str] = []
    skipped: Counter[str] = Counter()
    for path in files:
        text = read_text(path).replace("\r\n", "\n")
        chunks = text.split("\n") if layout == "line" else _paragraphs(text)
        if chunks and chunks[-1] == "":
            chunks.pop()  # the final newline ends the last document
        for chunk in chunks:
            doc = " ".join(chunk.split()) if layout == "paragraph" else chunk.strip()
            if doc:
                texts.append(doc)
            else:
                skipped["empty documents"] += 1
    if not texts:
        raise DataError(f"{', '.join(map(str, files))}: no document with text (an empty corpus)")
    return Documents(texts, files, skipped)


def _paragraphs(text: str) -> list[str]:
    out, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            out.append("\n".join(current))
            current = []
    if current:
        out.append("\n".join(current))
    return out


def hash_split(texts: Sequence[str], val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    """Each document's split (`train`, `val` or `test`), from a seeded hash of its text: identical
    documents share a split, and adding files never moves a document to another one."""
    val_cut, test_cut = val_fraction, val_fraction + test_fraction
    splits = []
    for text in texts:
        digest = hashlib.blake2b(text.encode(), digest_size=8, key=str(seed).encode()).digest()
        u = int.from_bytes(digest, "big") / 2**64
        splits.append("val" if u < val_cut else "test" if u < test_cut else "train")
    return splits
