"""Reply selection in the leaderboard, on run directories that `helpers.run_dirs` writes with chosen hits:
test/select/hits_at_1 and mean_rank with their intervals over seeds, McNemar's exact test on each
dialogue's majority hit against the reference row (dialogues paired by id, whatever the order of the
rows), and the reasons a row is not paired."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.run_dirs import DIALOGUES, chatbot_run
from scipy import stats

from maeum import leaderboard
from maeum.analysis.leaderboard import find_runs, read_run

pytestmark = pytest.mark.unit

SEEDS = (1, 2, 3)
VAL_PPL = {"input": (60.0, 50.0), "last_sys": (40.0, 30.0)}  # last_sys ranks first: the reference row
NLL = [3.0] * len(DIALOGUES)
# each dialogue's hit by majority over the seeds: the reference row wins dialogues 0-5, the other only 6
MAJORITY = {"last_sys": (1, 1, 1, 1, 1, 1, 0), "input": (0, 0, 0, 0, 0, 0, 1)}
ONLY_ROW, ONLY_REFERENCE = 1, 6  # the discordant dialogues


def hits_of(mask: str, seed: int) -> list[int]:
    """The majority's hits, but for one dialogue per seed that this seed alone gets the other way."""
    return [1 - h if d == seed else h for d, h in enumerate(MAJORITY[mask])]


def shuffled(seed: int) -> list[int] | None:
    """Seed 2 writes its rows in reverse order (the ids say which dialogue a row is)."""
    return list(reversed(range(len(DIALOGUES)))) if seed == 2 else None


@pytest.fixture(scope="module")
def selection_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 label masks x 3 seeds with reply selection, and a third row whose distractors came from another
    draw (`callbacks.reply_selection.seed=1`)."""
    grid = tmp_path_factory.mktemp("선택") / "챗봇 (마스크 x 시드)"
    for job, (mask, seed) in enumerate((m, s) for m in MAJORITY for s in SEEDS):
        chatbot_run(
            grid, job, [f"data.label_mask={mask}", f"seed={seed}", "trainer.max_epochs=2", "logger=csv"],
            val_ppl=VAL_PPL[mask], nll=NLL, hits=hits_of(mask, seed), order=shuffled(seed),
        )  # fmt: skip
    chatbot_run(
        grid, len(MAJORITY) * len(SEEDS),
        ["data.label_mask=last_sys", "seed=1", "trainer.max_epochs=2", "logger=csv",
         "callbacks.reply_selection.seed=1"],
        val_ppl=(70.0, 65.0), nll=NLL, hits=list(MAJORITY["input"]),
    )  # fmt: skip
    return grid


def seeds_interval(values) -> tuple[float, float, float, float]:
    """Mean, sample std and the 95% t interval of the mean (independently of maeum.analysis.stats)."""
    x = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean(), x.std(ddof=1), x.mean() - half, x.mean() + half


def mcnemar_p(only_row: int, only_reference: int) -> float:
    """McNemar's exact two-sided p by hand: twice the smaller binomial tail of the discordant pairs."""
    n = only_row + only_reference
    tail = sum(math.comb(n, i) for i in range(min(only_row, only_reference) + 1)) / 2**n
    return min(1.0, 2 * tail)


def test_hits_at_1_has_its_interval_and_mcnemar_pairs_the_dialogues_by_id(
    selection_grid: Path, tmp_path: Path
) -> None:
    runs = [read_run(p) for p in find_runs([selection_grid])]
    shuffled_run = next(r for r in runs if r.seed == 2 and r.label_mask == "input")
    in_order = next(r for r in runs if r.seed == 1 and r.label_mask == "input")
    ids = [pd.read_csv(r.path / "test_selection.csv")["id"].tolist() for r in (shuffled_run, in_order)]
    assert ids[0] == ids[1][::-1] != ids[1]  # the same dialogues, in another order
    paths = leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(paths["csv"])
    assert frame["label mask"].tolist() == ["last_sys", "input", "last_sys"]
    for n, mask in enumerate(MAJORITY):
        hits = [np.mean(hits_of(mask, s)) for s in SEEDS]
        columns = [
            frame.loc[n, f"test/select/hits_at_1_{s}"] for s in ("mean", "std", "ci95_low", "ci95_high")
        ]
        assert columns == pytest.approx(seeds_interval(hits), rel=1e-6), mask
        ranks = [np.mean([1 if h else 2 for h in hits_of(mask, s)]) for s in SEEDS]  # a miss ranks 2nd
        assert frame.loc[n, "test/select/mean_rank_mean"] == pytest.approx(np.mean(ranks))
    assert frame["select paired"].tolist() == ["reference", "vs #1", "reference (other candidates)"]
    assert frame["select_mcnemar_p"].tolist() == pytest.approx(
        [1.0, mcnemar_p(ONLY_ROW, ONLY_REFERENCE), 1.0]
    )
    assert mcnemar_p(ONLY_ROW, ONLY_REFERENCE) == pytest.approx(0.125)  # 2 * (1 + 7) / 2**7
    main_table = paths["md"].read_text(encoding="utf-8").split("**What the replies say**")[0]
    header, _, *lines = [[c.strip() for c in line.split("|")] for line in main_table.splitlines()[:5]]
    assert [line[header.index("select_mcnemar_p")] for line in lines] == ["1", "0.125", "1"]
    hits = [line[header.index("test/select/hits_at_1")] for line in lines]
    assert hits[0].startswith(f"{np.mean([np.mean(hits_of('last_sys', s)) for s in SEEDS]):.4g} ± ")
    assert "reply selection" in paths["md"].read_text(encoding="utf-8")  # the notes say what it is


def test_a_row_without_its_selection_file_is_one_reason_and_the_others_pair_on(
    selection_grid: Path, tmp_path: Path
) -> None:
    grid = Path(shutil.copytree(selection_grid, tmp_path / "격자 (복사본)"))
    runs = [read_run(p) for p in find_runs([grid])]
    (run,) = [r for r in runs if r.label_mask == "last_sys" and r.seed == 3]
    (run.path / "test_selection.json").unlink()
    (other,) = [r for r in runs if r.label_mask == "input" and r.seed == 3]
    (other.path / "test_selection.csv").unlink()
    rows = leaderboard.build(runs)[0]
    notes = [row.selection_note for row in rows]
    assert notes[0].startswith("not paired: ") and "has no test_selection.json beside it" in notes[0]
    assert notes[1].startswith("not paired: no test_selection.csv in ")
    assert notes[2] == "reference" and rows[2].selection_p == 1.0
    assert rows[0].test("test/select/hits_at_1").n == 3  # its logged metrics still show
    leaderboard.write(runs, tmp_path / "board")  # and render
