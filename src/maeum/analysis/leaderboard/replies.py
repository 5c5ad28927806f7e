"""What the rows said: each run's `test_generations.csv` (written by `maeum.training.test_replies`), checked
and read per row (`read_replies`), the paired comparisons of chrF, distinct-2, the empty rate and the
emotion agreement with the row's reference (`pair_replies`), and the fixed dialogues whose replies the
leaderboard shows side by side (`sample_ids`).

The leaderboard never runs a model: every statistic is recomputed from the files (chrF's n-gram counts from
the reply and reference texts, distinct-n from the replies' Kiwi morphemes the file holds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from maeum.analysis.leaderboard.grouping import Row
from maeum.analysis.leaderboard.runs import Run, read_dialogue_file
from maeum.analysis.stats import Paired, paired_corpus_bootstrap
from maeum.metrics.text import chrf_from_statistics, chrf_statistics, ngrams
from maeum.runs.files import GENERATIONS

COLUMNS = ("id", "reference", "reply", "reply_morphemes", "empty")
PAIRED = (  # (test/gen metric, its header in the leaderboard)
    ("chrf", "Δ chrF"),
    ("distinct_2", "Δ distinct-2"),
    ("empty_rate", "Δ empty rate"),
    ("emotion_agreement", "Δ emotion agreement"),
)
SAMPLES = 5  # dialogues whose replies every row shows


@dataclass
class Said:
    """A row's replies to its test dialogues: one frame per seed, and what makes two rows comparable."""

    ids: tuple[str, ...]
    key: str  # the file (capped or not) and the evaluation preset: rows pair only when it is equal
    classifier: str | None  # the emotion classifier that labelled the replies (None: none did)
    frames: list[pd.DataFrame] = field(default_factory=list)
    prepared: dict[str, list] = field(default_factory=dict)  # metric -> per-seed statistics (`VALUES`)


def _read_file(run: Run) -> tuple[pd.DataFrame, dict] | str:
    """A run's generations and their `.json` (preset, dialogues), checked; or what is wrong with them."""
    files = sorted(run.path.glob(f"{GENERATIONS}*.csv"), key=lambda p: (p.stem != GENERATIONS, p.name))
    if not files:
        return f"no {GENERATIONS}.csv in {run.name} (tested before maeum generated, or with generation off)"
    path = files[0]
    where = f"{path.name} of {run.name}"
    text = {c: str for c in ("id", "history", "reference", "reply", "reply_morphemes", "condition")}
    missing = ": its evaluation preset is unknown"
    return read_dialogue_file(path, where, COLUMNS, dtype=text, missing_about=missing)


def read_replies(runs: Sequence[Run]) -> Said | str:
    """A row's generations, every seed under one preset on the same dialogues; or why there are none."""
    said = None
    for run in runs:
        read = _read_file(run)
        if isinstance(read, str):
            return read
        frame, about = read
        key = json.dumps([about.get("file"), about.get("preset"), about.get("seed")], sort_keys=True)
        if said is None:
            said = Said(tuple(frame["id"]), key, about.get("emotion_classifier"))
        elif key != said.key:
            return "its seeds generated under different evaluation presets"
        elif tuple(frame["id"]) != said.ids:
            return "its seeds generated for different test dialogues"
        elif about.get("emotion_classifier") != said.classifier:
            said.classifier = None  # labelled by different classifiers: no emotion agreement to pair
        said.frames.append(frame)
    assert said is not None
    return said


def _truths(column: pd.Series) -> np.ndarray:
    """A column of True/False as 1/0 (`nan` where empty: no value for that dialogue)."""
    return column.astype(str).str.lower().map({"true": 1.0, "false": 0.0}).to_numpy(float)


def _chrf_counts(frame: pd.DataFrame) -> np.ndarray:
    return chrf_statistics(frame["reply"].astype(str), frame["reference"].astype(str))


def _bigram_incidence(frame: pd.DataFrame) -> sparse.csr_array:
    """(dialogues, distinct bigrams): how often each reply holds each bigram of morphemes."""
    grams = [ngrams(str(m).split(), 2) for m in frame["reply_morphemes"]]
    vocabulary: dict[tuple[str, ...], int] = {}
    rows = [i for i, g in enumerate(grams) for _ in g]
    cols = [vocabulary.setdefault(x, len(vocabulary)) for g in grams for x in g]
    shape = (len(grams), max(len(vocabulary), 1))
    return sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=shape)


def _agreement(frame: pd.DataFrame) -> np.ndarray:
    """1/0 per dialogue whose reference has a label, `nan` for the others (left out of the share)."""
    agreement = _truths(frame["emotion_agreement"])
    return np.where(frame["reference_label"].astype(str).str.len().to_numpy() > 0, agreement, np.nan)


def _share(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    known = np.isfinite(x)
    return (weights @ np.where(known, x, 0.0)) / np.maximum(weights @ known, 1e-12)


def _distinct(incidence: sparse.csr_array, weights: np.ndarray) -> np.ndarray:
    occurrences = np.asarray((incidence.T @ weights.T).T)  # (resamples, distinct bigrams)
    total = occurrences.sum(axis=1)
    return np.where(total > 0, (occurrences > 0).sum(axis=1) / np.maximum(total, 1), 0.0)


# metric -> (per-dialogue statistics of one seed's frame, the metric of weighted dialogues from them)
VALUES: dict[str, tuple[Callable[[pd.DataFrame], object], Callable[[object, np.ndarray], np.ndarray]]] = {
    "chrf": (_chrf_counts, lambda c, w: np.array([chrf_from_statistics(row) for row in w @ c])),
    "distinct_2": (_bigram_incidence, _distinct),
    "empty_rate": (lambda f: _truths(f["empty"]), _share),
    "emotion_agreement": (_agreement, _share),
}


def _metric(said: Said, metric: str) -> Callable[[np.ndarray], np.ndarray]:
    """The row's metric on resampled dialogues (weights), the mean over its seeds as in its row."""
    prepare, score = VALUES[metric]
    if metric not in said.prepared:  # once per seed and row, not per resample or comparison
        said.prepared[metric] = [prepare(frame) for frame in said.frames]
    prepared = said.prepared[metric]
    return lambda weights: np.mean([score(p, weights) for p in prepared], axis=0)


def _pairable(said: Said, ref: Said) -> list[str]:
    """The paired metrics both rows have: the emotion agreement only when one classifier labelled both."""
    labelled = all("emotion_agreement" in f for f in said.frames + ref.frames)
    same = said.classifier is not None and said.classifier == ref.classifier
    return [m for m, _ in PAIRED if m != "emotion_agreement" or (labelled and same)]


def paired_replies(said: Said, ref: Said) -> dict[str, Paired]:
    """The paired differences of a row from its reference (row minus reference) on the same dialogues
    under the same preset (`pair_replies` pairs only those); no emotion agreement unless one classifier
    labelled both."""
    paired = {}
    for metric in _pairable(said, ref):
        mine, theirs = _metric(said, metric), _metric(ref, metric)
        paired[metric] = paired_corpus_bootstrap(lambda w, a=mine, b=theirs: a(w) - b(w), len(said.ids))
    return paired


def pair_replies(rows: Sequence[Row]) -> None:
    """Read every chatbot row's generations and compare each with the best-ranked row that generated for
    the same test dialogues (ids in order) under the same evaluation preset and cap: `row.said`,
    `row.replies_paired`, `row.replies_note`. Unlike the NLL, replies compare across tokenizers."""
    references: dict[tuple, tuple[int, Said]] = {}
    for n, row in enumerate(rows, 1):
        row.said = read_replies(row.runs) if row.task.generated else None
        if row.said is None:
            continue
        if isinstance(row.said, str):
            row.replies_note = f"not paired: {row.said}"
            continue
        key = (row.said.ids, row.said.key)
        if key not in references:
            references[key] = (n, row.said)
            row.replies_paired = {m: Paired(0.0, 0.0, 0.0) for m in _pairable(row.said, row.said)}
            first = len(references) == 1
            row.replies_note = "reference" if first else "reference (other dialogues or preset)"
            continue
        ref_n, ref = references[key]
        row.replies_paired = paired_replies(row.said, ref)
        row.replies_note = f"vs #{ref_n}"
        if "emotion_agreement" not in row.replies_paired and row.said.classifier != ref.classifier:
            row.replies_note += " (no emotion agreement: another classifier or none)"


def sample_ids(ids: Sequence[str], k: int = SAMPLES) -> list[str]:
    """`k` test dialogues fixed by their ids alone (the smallest digests), in test order: every row and
    every leaderboard over the same test set shows the same ones."""
    chosen = set(sorted(ids, key=lambda i: hashlib.sha1(i.encode()).hexdigest())[:k])
    return [i for i in ids if i in chosen]
