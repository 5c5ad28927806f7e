"""Paired comparisons between rows tested on the same examples, from each run's `test_predictions.csv`:
`read_predictions` pools a row's seeds per example, `pair_rows` compares every row with the best one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from maeum.analysis.leaderboard.grouping import Row
from maeum.analysis.leaderboard.runs import Run
from maeum.analysis.stats import Paired, mcnemar_exact
from maeum.runs.files import TEST_PREDICTIONS, UNKNOWN_ID


def _predictions_file(run: Run) -> pd.DataFrame | str:
    """A run's `test_predictions.csv` with the columns its task pairs on, checked; or what is wrong with it
    (the reason a row is not paired: unreadable, a column missing, rows with empty or invalid values)."""
    path = run.path / TEST_PREDICTIONS
    paired = [column for column, _ in run.task.paired_columns]
    where = f"{TEST_PREDICTIONS} of {run.name}"
    if not path.is_file():
        return f"no {TEST_PREDICTIONS} in {run.name}"
    try:
        frame = pd.read_csv(path, dtype={"id": str}, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        return f"{where} is not a readable UTF-8 CSV ({type(err).__name__})"
    if missing := [c for c in ("id", *paired) if c not in frame.columns]:
        return f"{where} lacks the column(s) {missing}; re-test the run with maeum-eval"
    values = pd.DataFrame({column: run.task.parse(frame[column]) for column in paired})
    bad = int((~np.isfinite(values.to_numpy(float))).any(axis=1).sum())
    frame[paired] = values
    bad += int(frame["id"].isna().sum())
    if bad:
        return f"{where} has {bad} row(s) with an empty or invalid id or {', '.join(paired)}"
    return frame


def read_predictions(row: Row) -> tuple[tuple, dict[str, np.ndarray]] | str:
    """What the row was tested on (its ids in order, and its task's shared columns: for chatbots each
    dialogue's response tokens, without which per-token NLLs do not compare) and its per-example values
    pooled over its seeds (chatbots: `nll`, `tokens`; classifiers: `correct`, the share of seeds right); or
    why there are none."""
    task = row.task
    frames = []
    for run in row.runs:
        frame = _predictions_file(run)
        if isinstance(frame, str):
            return frame
        frames.append(frame)
    ids = tuple(frames[0]["id"])
    if any(tuple(f["id"]) != ids for f in frames[1:]):
        return "its seeds were tested on different examples"
    if any(i.endswith(UNKNOWN_ID) for i in ids):
        return f"{TEST_PREDICTIONS} of {row.first.name} does not identify its test examples"
    key: list[tuple] = [ids]
    for column in task.shared:
        shared = frames[0][column].to_numpy(float)
        if any(not np.array_equal(f[column].to_numpy(float), shared) for f in frames[1:]):
            return task.shared_note
        key.append(tuple(shared))
    pooled = {}
    for column, name in task.paired_columns:
        per_seed = [f[column].to_numpy(float) for f in frames]
        pooled[name] = per_seed[0] if column in task.shared else np.mean(per_seed, axis=0)
    return tuple(key), pooled


def pair_rows(rows: Sequence[Row]) -> None:
    """Compare every row with the best-ranked row tested on the same examples (same ids in the same order;
    for chatbots also the same response tokens per dialogue, i.e. the same tokenization).

    Chatbots: the mean per-token response NLL difference (`response_nll_delta`); classifiers: the accuracy
    difference (`accuracy_delta`) and McNemar's exact p on each example's majority vote over seeds (an
    example with a tied vote in either row is left out of McNemar's counts). Rows are ranked best first.
    A row tested on other examples or tokens than every better row is the reference of its own test set."""
    references: dict[tuple, tuple[int, dict[str, np.ndarray]]] = {}
    for n, row in enumerate(rows, 1):
        task = row.task
        read = read_predictions(row)
        if isinstance(read, str):
            row.pair_note = f"not paired: {read}"
            continue
        key, values = read
        if key not in references:
            row.pair_note = _reference_note(key, references)
            references[key] = (n, values)
            row.paired = Paired(0.0, 0.0, 0.0)
            if task.mcnemar:
                row.mcnemar_p = 1.0
            continue
        ref_n, ref = references[key]
        row.pair_note = f"vs #{ref_n}"
        names = [name for _, name in task.paired_columns]
        row.paired = task.paired_test(*(values[n] for n in names), *(ref[n] for n in names))
        if task.mcnemar:
            row.mcnemar_p = _majority_mcnemar(values[task.mcnemar], ref[task.mcnemar])


def _reference_note(key: tuple, references: dict[tuple, object]) -> str:
    """Why a row is the reference of its own test set: the first row, other test examples, or the same
    examples with other response tokens (another tokenizer or `max_length`: per-token NLLs do not compare)."""
    if not references:
        return "reference"
    if any(other[0] == key[0] for other in references):
        return "reference (other tokens on the same test examples: perplexities do not compare)"
    return "reference (other test examples)"


def _majority_mcnemar(correct: np.ndarray, ref_correct: np.ndarray) -> float:
    """McNemar's exact p on each example's majority vote over seeds, leaving out ties in either row."""
    decided = (correct != 0.5) & (ref_correct != 0.5)
    return mcnemar_exact(correct[decided] > 0.5, ref_correct[decided] > 0.5)
