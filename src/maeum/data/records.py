"""Canonical records that every reader emits, whatever the corpus format."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Example:
    """One classification example. `row` is the 1-based row in the source file (the header is row 1);
    `response` is what a chatbot answered to `text`, in corpora that have one (the wellness script)."""

    text: str
    label: str
    row: int
    response: str = ""


@dataclass
class ReadResult(Generic[R]):
    """What a reader got out of one file: the kept records and an account of every row it dropped."""

    path: Path
    records: list[R]
    rows_read: int
    dropped: Counter[str] = field(default_factory=Counter)  # rows left out, by reason
    changed: Counter[str] = field(default_factory=Counter)  # rows kept but altered, by reason
    label_names: dict[str, str] = field(default_factory=dict)  # a raw label or condition -> its name

    def summary(self) -> str:
        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{n} {reason}" for reason, n in sorted(counter.items())) or "none"

        text = f"{self.path.name}: read {self.rows_read} rows, kept {len(self.records)}"
        text += f", dropped: {counts(self.dropped)}"
        return text + (f", changed: {counts(self.changed)}" if self.changed else "")
