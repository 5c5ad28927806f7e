"""Reply selection in the leaderboard: each run's `test_selection.csv` (written by
`maeum.training.reply_selection`: per test dialogue, whether the model scored the reference reply above its
distractors), read per row (`read_selection`), and McNemar's exact test of every row's per-dialogue hits
against those of its reference (`pair_selection`), the best-ranked row that ranked the same candidates.

Dialogues pair by `id`, whatever the order of the files' rows; each dialogue's hit is pooled over a row's
seeds by majority vote (a tied vote leaves the dialogue out of McNemar's counts), as a classifier's
per-example right/wrong is (`maeum.analysis.leaderboard.pairing`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from maeum.analysis.leaderboard.grouping import Row
from maeum.analysis.leaderboard.runs import Run, read_dialogue_file
from maeum.analysis.stats import mcnemar_exact
from maeum.runs.files import TEST_SELECTION

COLUMNS = ("id", "reference", "hit")
DISTRACTOR = re.compile(r"distractor_\d+")


@dataclass
class Selected:
    """A row's reply selection: what it ranked and its hits, per dialogue in the order of `key`."""

    key: tuple[tuple[str, ...], ...]  # per dialogue (by id): its id, reference and distractors
    hits: np.ndarray  # per dialogue, the share of the row's seeds that ranked the reference first


def _read_file(run: Run) -> pd.DataFrame | str:
    """A run's `test_selection.csv`, checked and sorted by id; or what is wrong with it."""
    path = run.path / TEST_SELECTION
    where = f"{TEST_SELECTION} of {run.name}"
    if not path.is_file():
        return f"no {TEST_SELECTION} in {run.name} (tested before maeum ranked replies, or with it off)"
    read = read_dialogue_file(path, where, COLUMNS)
    if isinstance(read, str):
        return read
    frame, _ = read
    if not frame["id"].is_unique:
        return f"{where} does not identify its test dialogues"
    if not frame["hit"].isin(["0", "1"]).all():
        return f"{where} has hits other than 0 and 1"
    return frame.sort_values("id", kind="stable", ignore_index=True)


def read_selection(runs: Sequence[Run]) -> Selected | str:
    """A row's reply selection, every seed on the same candidates; or why there is none."""
    key, hits = None, []
    for run in runs:
        frame = _read_file(run)
        if isinstance(frame, str):
            return frame
        columns = ["id", "reference", *sorted(filter(DISTRACTOR.fullmatch, frame.columns), key=_number)]
        ranked = tuple(map(tuple, frame[columns].to_numpy()))
        if key is None:
            key = ranked
        elif ranked != key:
            return "its seeds ranked different candidates (other dialogues, distractors or seed)"
        hits.append(frame["hit"].astype(int).to_numpy())
    assert key is not None
    return Selected(key, np.mean(hits, axis=0))


def _number(column: str) -> int:
    return int(column.rsplit("_", 1)[1])


def pair_selection(rows: Sequence[Row]) -> None:
    """McNemar's exact p (`row.selection_p`) of each chatbot row's per-dialogue hits against the best-ranked
    row that ranked the same candidates for the same dialogues (`row.selection_note` says which, or why a
    row is not paired); a reference row's p is 1."""
    references: dict[tuple, tuple[int, Selected]] = {}
    for n, row in enumerate(rows, 1):
        if not row.task.selection:
            continue
        selected = read_selection(row.runs)
        if isinstance(selected, str):
            row.selection_note = f"not paired: {selected}"
            continue
        if selected.key not in references:
            row.selection_note = "reference" if not references else "reference (other candidates)"
            references[selected.key] = (n, selected)
            row.selection_p = 1.0
            continue
        ref_n, ref = references[selected.key]
        decided = (selected.hits != 0.5) & (ref.hits != 0.5)  # a tied vote over seeds decides nothing
        row.selection_p = mcnemar_exact(selected.hits[decided] > 0.5, ref.hits[decided] > 0.5)
        row.selection_note = f"vs #{ref_n}"
