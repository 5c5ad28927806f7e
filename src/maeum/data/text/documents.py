"""Raw text files: read (strict UTF-8, streamed), counted, and split by a seeded hash of each text, so
that two copies of a text always land on the same side.

Patterns are files, directories (their `*.txt`) or globs. A bad byte is one `DataError` naming the file,
its byte offset and line. Pretraining reads documents (`read_documents`: one per line, or blank-line
separated) and splits them into train/val/test (`hash_split`); `maeum-tokenizer train` reads lines
(`LineCorpus`) and holds out a share by the same hash and seed (42), so a tokenizer trained on a corpus
never sees the text that its language model is validated and tested on.
"""

from __future__ import annotations

import glob
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from maeum.errors import DataError

log = logging.getLogger(__name__)
LAYOUTS = ("line", "paragraph")  # one document per line | documents separated by blank lines
HASH_SEED = 42  # the pretraining data's `data.seed`
BOM = b"\xef\xbb\xbf"


def expand_paths(patterns: str | Sequence[str], exclude: Sequence[str] = ()) -> list[Path]:
    """The files that `patterns` name (a file, a directory's `*.txt`, or a glob), in order and once each,
    without those whose name matches a pattern of `exclude`."""
    files: list[Path] = []
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        path = Path(pattern).expanduser()
        if path.is_file():
            matches = [path]
        elif path.is_dir():
            matches = sorted(path.glob("*.txt"))
        else:
            matches = [Path(m) for m in sorted(glob.glob(str(path))) if Path(m).is_file()]
        if not matches:
            raise DataError(f"{pattern}: no such text file (give UTF-8 text files, directories or globs)")
        files += matches
    kept = [f for f in dict.fromkeys(files) if not any(fnmatch(f.name, x) for x in exclude)]
    if not kept:
        raise DataError(f"every file of {patterns} is excluded by {', '.join(exclude)}")
    return kept


def hash_position(text: str, seed: int = HASH_SEED) -> float:
    """`text`'s seeded blake2b hash as a number in [0, 1): where it falls decides its split."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_heldout(text: str, fraction: float, seed: int = HASH_SEED) -> bool:
    """Whether `text` is held out: its hash position is below `fraction` (`hash_split`'s val, then test)."""
    return hash_position(text, seed) < fraction


def file_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 file without their line ends (`\\n` or `\\r\\n`); a byte that is not UTF-8
    ends it with one `DataError` that names the file, the byte offset and the line."""
    offset = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            start = len(BOM) if offset == 0 and raw.startswith(BOM) else 0
            try:
                yield raw[start:].decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}: not UTF-8 at byte offset {offset + start + err.start} (line {number}):"
                    f" {err.reason}. Re-save it as UTF-8, e.g. `iconv -f cp949 -t utf-8`."
                ) from None
            offset += len(raw)


def sha256_of(path: Path) -> str:
    """A file's sha256, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Source:
    """One file as read: its sha256 and its lines (blank, held out, trained on)."""

    path: str
    sha256: str
    bytes: int
    lines: int = 0
    blank: int = 0
    heldout: int = 0

    @property
    def trained(self) -> int:
        return self.lines - self.blank - self.heldout


class LineCorpus:
    """The texts of some files, one per line: iterating gives the lines trained on, as often as needed
    (each pass re-reads the files); `heldout` holds the held-out lines, `sources` what each file held."""

    def __init__(self, paths: Sequence[Path], heldout_fraction: float = 0.01, seed: int = HASH_SEED) -> None:
        if not 0 <= heldout_fraction < 1:
            raise DataError(f"the held-out fraction {heldout_fraction} is not in [0, 1)")
        self.paths = list(paths)
        self.heldout_fraction = heldout_fraction
        self.seed = seed
        self.heldout: list[str] = []
        self.sources = [self._scan(path) for path in self.paths]
        if not any(source.trained for source in self.sources):
            raise DataError(f"{', '.join(map(str, self.paths))}: no line of text to train on")

    def _scan(self, path: Path) -> Source:
        source = Source(str(path), sha256_of(path), path.stat().st_size)
        for line in file_lines(path):
            source.lines += 1
            text = line.strip()
            if not text:
                source.blank += 1
            elif is_heldout(text, self.heldout_fraction, self.seed):
                source.heldout += 1
                self.heldout.append(text)
        return source

    def __iter__(self) -> Iterator[str]:
        for path in self.paths:
            for line in file_lines(path):
                text = line.strip()
                if text and not is_heldout(text, self.heldout_fraction, self.seed):
                    yield text

    def summary(self) -> dict[str, Any]:
        """Line counts over all files, and each file's own."""
        total = {
            k: sum(getattr(s, k) for s in self.sources) for k in ("lines", "blank", "heldout", "trained")
        }
        sources = [{**asdict(s), "trained": s.trained} for s in self.sources]
        return {
            **total,
            "heldout_fraction": self.heldout_fraction,
            "hash_seed": self.seed,
            "sources": sources,
        }


@dataclass
class Documents:
    """The documents of some files, with what was skipped."""

    texts: list[str]
    files: list[Path]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return f"{len(self.texts)} documents from {len(self.files)} file(s); skipped: {skipped}"


def read_documents(paths: str | Sequence[str], layout: str = "line") -> Documents:
    """Every document of the files `paths`, in file order. Empty documents are skipped and counted."""
    if layout not in LAYOUTS:
        raise DataError(f"data.layout={layout!r}: choose one of {', '.join(LAYOUTS)}")
    files = expand_paths(paths)
    texts: list[str] = []
    skipped: Counter[str] = Counter()
    for path in files:
        lines = file_lines(path)
        for chunk in lines if layout == "line" else _paragraphs(lines):
            doc = " ".join(chunk.split()) if layout == "paragraph" else chunk.strip()
            if doc:
                texts.append(doc)
            else:
                skipped["empty documents"] += 1
    if not texts:
        raise DataError(f"{', '.join(map(str, files))}: no document with text (an empty corpus)")
    return Documents(texts, files, skipped)


def _paragraphs(lines: Iterator[str]) -> Iterator[str]:
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            yield "\n".join(current)
            current = []
    if current:
        yield "\n".join(current)


def hash_split(
    texts: Sequence[str], val_fraction: float, test_fraction: float, seed: int = HASH_SEED
) -> list[str]:
    """Each document's split (`train`, `val` or `test`), from a seeded hash of its text: identical
    documents share a split, and adding files never moves a document to another one."""
    val_cut, test_cut = val_fraction, val_fraction + test_fraction
    splits = []
    for text in texts:
        u = hash_position(text, seed)
        splits.append("val" if u < val_cut else "test" if u < test_cut else "train")
    return splits
