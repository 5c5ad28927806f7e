"""Kill-safe resume, with real subprocesses and SIGKILL: a run killed mid-epoch and resumed from
`last.ckpt` ends exactly as a run that was never stopped, and a kill during a checkpoint write leaves the
previous `last.ckpt` whole."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO

HERE = Path(__file__).resolve().parent
# sample data: 168 train rows in batches of 16 = 11 steps per epoch, 33 in all; last.ckpt every 3 steps
COMMON = ["trainer.max_epochs=3", "callbacks.last_checkpoint.every_n_train_steps=3", "logger=csv",
          "callbacks.early_stopping.patience=100", "extras.print_config=false"]  # fmt: skip


def train(run_dir: Path, *overrides: str, killed: bool = False) -> None:
    cmd = [sys.executable, "-m", "maeum.train", f"hydra.run.dir={run_dir}", *COMMON, *overrides]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    expected = -signal.SIGKILL if killed else 0
    assert proc.returncode == expected, proc.stdout[-3000:] + proc.stderr[-3000:]


def checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def final_test_metrics(run_dir: Path) -> dict[str, float]:
    """The test metrics of the run's latest CSV log."""
    latest = max(run_dir.glob("csv/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    with latest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for row in rows for k, v in row.items() if k.startswith("test/") and v}


@pytest.mark.parametrize(
    "schedule",
    # with a schedule, the loader is built before the restore (Lightning #20550); without, after it
    [[], ["model.scheduler=null"]],
    ids=["cosine schedule", "no schedule"],
)
def test_a_run_killed_mid_epoch_resumes_to_exactly_the_uninterrupted_result(
    tmp_path: Path, schedule: list[str]
) -> None:
    train(tmp_path / "whole", *schedule)
    killed = tmp_path / "killed"
    kill = ["+callbacks.kill._target_=resume_helpers.KillAtStep", "+callbacks.kill.step=17"]
    train(killed, *schedule, *kill, killed=True)
    saved = checkpoint(killed / "checkpoints" / "last.ckpt")
    assert saved["global_step"] == 15 and saved["epoch"] == 1  # mid-epoch: batch 4 of 11 of epoch 1
    train(killed, *schedule, f"ckpt_path={killed / 'checkpoints' / 'last.ckpt'}")

    whole, resumed = (checkpoint(d / "checkpoints" / "last.ckpt") for d in (tmp_path / "whole", killed))
    assert whole["global_step"] == resumed["global_step"] == 33
    assert whole["state_dict"].keys() == resumed["state_dict"].keys()
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, resumed["state_dict"][name]), name  # bit for bit
    expected = final_test_metrics(tmp_path / "whole")
    assert expected.keys() >= {"test/acc", "test/f1_macro", "test/loss"}
    assert final_test_metrics(killed) == expected


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_last_ckpt_whole(tmp_path: Path) -> None:
    # saves 1 and 2: last.ckpt at steps 3 and 6; save 3 (step 9) dies half-written
    plugin = "trainer.plugins=[{_target_:resume_helpers.DiesWhileWriting,at_save:3}]"
    train(tmp_path, plugin, killed=True)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert [p.name for p in last.parent.glob(".last.ckpt.*.tmp")]  # the half-written new one, never renamed
    assert checkpoint(last)["global_step"] == 6
    train(tmp_path, f"ckpt_path={last}", "trainer.max_epochs=1")  # and Lightning resumes from it
    assert checkpoint(last)["global_step"] == 9  # steps 7 to 11 of epoch 0; last.ckpt every 3 steps
    assert not list(last.parent.glob(".last.ckpt.*.tmp"))  # the next save cleared the half-written one
