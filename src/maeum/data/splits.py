"""Deterministic, stratified, leak-free train/val/test splits.

Rows whose texts are equal after whitespace normalisation form one group, and a group never straddles
two splits, so a duplicated sentence cannot be trained on and then tested on. Groups are stratified by
label (the label of their first row) and shuffled with a seeded RNG.

Hand-written because scikit-learn (not a dependency) has no ratio split that is both stratified and
grouped: `StratifiedGroupKFold` only does k folds and `GroupShuffleSplit` does not stratify.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

R = TypeVar("R")

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitResult:
    indices: dict[str, list[int]]  # split name -> row indices into the input, in input order
    duplicate_rows: int  # rows whose normalised text already appeared in an earlier row
    conflicting_groups: int  # groups of equal texts that carry more than one label


def normalize_text(text: str) -> str:
    """The key under which texts count as duplicates: whitespace runs collapsed, ends stripped."""
    return " ".join(text.split())


def group_split(
    texts: Sequence[str], labels: Sequence[str], *, val_fraction: float, test_fraction: float, seed: int
) -> SplitResult:
    """Split rows into train/val/test by group, stratified by label, reproducibly for a given seed."""
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must sum to < 1")
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(normalize_text(text), []).append(i)
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for members in groups.values():
        by_label[labels[members[0]]].append(members)

    rng = random.Random(seed)
    assignment: dict[str, list[int]] = {name: [] for name in SPLITS}
    for label in sorted(by_label):
        label_groups = by_label[label]
        rng.shuffle(label_groups)
        n = len(label_groups)
        n_val = round(n * val_fraction)
        n_test = round(n * test_fraction)
        if n_val + n_test >= n:  # too few groups to hold anything out: keep them all for training
            n_val = n_test = 0
        for name, chunk in (
            ("val", label_groups[:n_val]),
            ("test", label_groups[n_val : n_val + n_test]),
            ("train", label_groups[n_val + n_test :]),
        ):
            assignment[name].extend(i for members in chunk for i in members)
    return SplitResult(
        indices={name: sorted(rows) for name, rows in assignment.items()},
        duplicate_rows=len(texts) - len(groups),
        conflicting_groups=sum(len({labels[i] for i in members}) > 1 for members in groups.values()),
    )


@dataclass(frozen=True)
class Assembled:
    """Every split's examples in one list, and which rows belong to which split."""

    examples: list  # the records (Example, Dialogue, ...) of every split
    indices: dict[str, list[int]]
    dropped: Counter[str]  # rows removed because their text also sits in an official held-out split
    duplicate_rows: int
    conflicting_groups: int


def assemble_splits(
    sources: Mapping[str, Sequence[R]],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    key: Callable[[R], str] = lambda r: r.text,
    stratum: Callable[[R], str] = lambda r: r.label,
) -> Assembled:
    """Official splits where a file gives them, `group_split` of the train file for the others.

    Records are grouped by `key` (the text; for dialogues the first user turn) and stratified by
    `stratum` (the label or condition). Leak-free across files too: a key that is in the official test
    file leaves val and train, and a key in the official val file leaves train. Every removal is counted.
    """
    held: set[str] = set()
    kept: dict[str, list[R]] = {}
    dropped: Counter[str] = Counter()
    for name in ("test", "val", "train"):
        if name not in sources:
            continue
        kept[name] = [r for r in sources[name] if normalize_text(key(r)) not in held]
        if removed := len(sources[name]) - len(kept[name]):
            dropped[f"{name} text also in a held-out split file"] += removed
        held |= {normalize_text(key(r)) for r in kept[name]}
    train = kept["train"]
    inner = group_split(
        [key(r) for r in train],
        [stratum(r) for r in train],
        val_fraction=0.0 if "val" in sources else val_fraction,
        test_fraction=0.0 if "test" in sources else test_fraction,
        seed=seed,
    )
    examples = list(train)
    indices = dict(inner.indices)
    for name in ("val", "test"):
        if name in kept:
            indices[name] = list(range(len(examples), len(examples) + len(kept[name])))
            examples += kept[name]
    return Assembled(examples, indices, dropped, inner.duplicate_rows, inner.conflicting_groups)
