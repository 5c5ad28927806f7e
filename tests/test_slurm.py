"""maeum on a real single-node SLURM cluster (`scripts/local_slurm.py`, the `slurm_cluster` fixture):
sweeps through `hydra/launcher=slurm_cpu`, jobs that SLURM signals (preemption, a time limit) requeueing
and resuming bit for bit, DDP as two SLURM tasks, and the failed job of a sweep named.

Every run starts early in the session, in the background (`helpers.slurm.Runs`, `conftest.py`); each test
waits for its own.
"""

from __future__ import annotations

import csv
import subprocess
from concurrent.futures import Future
from pathlib import Path

import pytest
import torch
from helpers import slurm
from helpers.configs import REPO
from helpers.runs import epoch_metrics

pytestmark = [pytest.mark.e2e, pytest.mark.slurm]


def final_test_metrics(run_dir: Path) -> dict[str, float]:
    """The test metrics of a run's latest CSV log (a resumed run logs into a new version)."""
    latest = max(run_dir.glob("csv/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    with latest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for row in rows for k, v in row.items() if k.startswith("test/") and v}


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    last = run_dir / "checkpoints" / "last.ckpt"
    return torch.load(last, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_run(reference: Path, run: Path) -> None:
    """The same final weights, bit for bit, and the same test metrics within 1e-6."""
    expected, got = final_test_metrics(reference), final_test_metrics(run)
    assert expected.keys() == got.keys() and len(expected) >= 4
    assert got == pytest.approx(expected, abs=1e-6)
    reference_weights, run_weights = weights(reference), weights(run)
    assert all(torch.equal(t, run_weights[name]) for name, t in reference_weights.items())


def restarts(run_dir: Path) -> int:
    """How many times the run's job came back after a requeue, from the run's log."""
    return (run_dir / "train.log").read_text(encoding="utf-8").count("Requeued by SLURM (restart")


def test_a_preempted_job_waits_in_the_sweep_requeues_and_resumes_bit_exact(
    slurm_runs: slurm.Runs, uninterrupted_chatbot: Future[Path]
) -> None:
    """USR2 after the first `last.ckpt`: the job requeues, the sweep command keeps waiting, and the job
    resumes from its own `last.ckpt` in its run directory to the uninterrupted run's result."""
    run = slurm_runs.preempted.result()
    assert run.waited, "the sweep returned while its job was requeued"
    assert "1 of 1 runs finished" in run.output and run.state == "COMPLETED"
    assert "sacct" not in run.output
    assert restarts(run.sweep / "0") == 1
    assert_same_run(uninterrupted_chatbot.result(), run.sweep / "0")


def test_a_job_past_its_time_limit_requeues_again_and_again_and_ends_as_the_whole_run(
    slurm_runs: slurm.Runs, uninterrupted_chatbot: Future[Path]
) -> None:
    """`timeout_min=1` for a run of over a minute: SLURM signals it before each time limit, and it goes on
    over three allocations or more, then ends as the run that was never stopped."""
    sweep, output = slurm_runs.timed_out.result()
    assert "1 of 1 runs finished" in output and "sacct" not in output
    assert restarts(sweep / "0") >= 2, (sweep / "0" / "train.log").read_text(encoding="utf-8")[-3000:]
    assert_same_run(uninterrupted_chatbot.result(), sweep / "0")


def test_ddp_as_two_slurm_tasks_trains_as_ddp_sim(slurm_runs: slurm.Runs, ddp_sim_run: Future[Path]) -> None:
    """`trainer=ddp_sim` through `hydra/launcher=slurm_cpu`: two SLURM tasks (srun) that Lightning takes its
    ranks from, instead of two processes it starts itself; the same validation and test metrics. One
    requeue mechanism: Lightning's own SLURM requeue is never armed."""
    sweep, output = slurm_runs.ddp.result()
    assert "sacct" not in output
    log = (sweep / "0" / "train.log").read_text(encoding="utf-8")
    assert "SLURM auto-requeueing enabled" not in log
    expected, got = epoch_metrics(ddp_sim_run.result()), epoch_metrics(sweep / "0")
    assert got.keys() == expected.keys() and {"test/acc", "val/loss"} <= got.keys()
    for name, values in expected.items():
        assert got[name] == pytest.approx(values, abs=1e-6), name


def test_a_seed_sweep_waits_for_every_job_names_the_failed_one_and_feeds_the_leaderboard(
    slurm_runs: slurm.Runs,
) -> None:
    """Three runs, one with a bad override: the other two finish, the sweep names the failed one with its
    logs (and never prints submitit's `sacct` noise on a cluster without accounting), and
    `maeum-leaderboard` reads the sweep directory, saying which run it left out."""
    sweep, output = slurm_runs.seeds.result()
    assert "2 of 3 runs finished; failed: #2" in output, output[-3000:]
    assert "seed=oops" in output and f"{sweep / '2' / 'train.log'} and " in output and "_log.err" in output
    assert "sacct" not in output
    cmd = ["maeum-leaderboard", str(sweep)]
    board = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert board.returncode == 0, board.stdout[-3000:] + board.stderr[-3000:]
    assert f"{sweep.name}/0 {sweep.name}/1 |" in board.stdout  # one row: the two seeds that ran
    assert f"Left out {sweep / '2'}: the run failed (data.shuffle_seed='oops'" in board.stderr
