"""UTF-8 text files as texts, one per line, streamed: what `maeum-tokenizer train` reads.

Patterns are files, directories (their `*.txt`) or globs. Each file is checked first, as a whole: strict
UTF-8 (a BOM is dropped; a bad byte is one `DataError` naming the file and its byte offset), its sha256,
its lines. Blank lines are skipped and counted. A line is held out when a seeded hash of its text falls
below `heldout_fraction`: the same rule and seed (42) as the validation split of raw-text pretraining, so
a tokenizer trained here never sees the text its language model is validated on, and two copies of a line
share a side.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from maeum.errors import DataError

HASH_SEED = 42  # the pretraining data's `data.seed`
BOM = b"\xef\xbb\xbf"


def expand_paths(patterns: Sequence[str], exclude: Sequence[str] = ()) -> list[Path]:
    """The files that `patterns` name (a file, a directory's `*.txt`, or a glob), in order and once each,
    without those whose name matches a pattern of `exclude`."""
    files: list[Path] = []
    for pattern in patterns:
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
        raise DataError(f"every file of {', '.join(patterns)} is excluded by {', '.join(exclude)}")
    return kept


def is_heldout(text: str, fraction: float, seed: int = HASH_SEED) -> bool:
    """Whether `text` is held out: its seeded blake2b hash, as a number in [0, 1), is below `fraction`."""
    digest = hashlib.blake2b(text.encode(), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big") / 2**64 < fraction


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
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        source = Source(str(path), digest.hexdigest(), path.stat().st_size)
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
