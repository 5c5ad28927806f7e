"""Splits: deterministic, stratified, and a duplicated text never crosses splits."""

from __future__ import annotations

from collections import Counter

import pytest

from maeum.data.splits import group_split, normalize_text

pytestmark = pytest.mark.unit

LABELS = ["기쁨", "슬픔", "분노"]


def corpus(n_per_label: int = 40) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label in LABELS:
        for i in range(n_per_label):
            texts.append(f"{label} 문장 {i}")
            labels.append(label)
    # duplicates that differ only in whitespace, and one exact duplicate with a different label
    texts += ["기쁨  문장 0", " 기쁨 문장 0 ", "슬픔 문장 1"]
    labels += ["기쁨", "기쁨", "분노"]
    return texts, labels


def split(seed: int = 7) -> tuple[dict[str, list[int]], list[str], list[str], int, int]:
    texts, labels = corpus()
    result = group_split(texts, labels, val_fraction=0.1, test_fraction=0.2, seed=seed)
    return result.indices, texts, labels, result.duplicate_rows, result.conflicting_groups


def test_splits_partition_every_row() -> None:
    indices, texts, *_ = split()
    rows = [i for part in indices.values() for i in part]
    assert sorted(rows) == list(range(len(texts)))


def test_duplicates_never_cross_splits() -> None:
    indices, texts, _, duplicates, conflicts = split()
    where = {}
    for name, rows in indices.items():
        for i in rows:
            key = normalize_text(texts[i])
            assert where.setdefault(key, name) == name, f"{texts[i]!r} is in {where[key]} and {name}"
    assert duplicates == 3 and conflicts == 1


def test_split_is_stratified() -> None:
    indices, texts, labels, *_ = split()
    for name, expected in (("val", 4), ("test", 8)):  # 40 distinct texts per label: 10% and 20%
        distinct = {(labels[i], normalize_text(texts[i])) for i in indices[name]}
        counts = Counter(label for label, _ in distinct)
        assert counts == dict.fromkeys(LABELS, expected), (name, counts)


def test_split_depends_only_on_the_seed() -> None:
    assert split(seed=7)[0] == split(seed=7)[0]
    assert split(seed=7)[0]["test"] != split(seed=8)[0]["test"]


def test_bad_fractions_are_refused() -> None:
    with pytest.raises(ValueError, match="must sum to < 1"):
        group_split(["a"], ["x"], val_fraction=0.5, test_fraction=0.5, seed=0)
