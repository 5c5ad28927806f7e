"""Training a run in a process of its own (`helpers.entry_points`), and reading a finished run's directory."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

from helpers import entry_points
from helpers.configs import REPO
from helpers.run_dirs import quoted

TESTS = Path(__file__).resolve().parents[1]


def train_subprocess(run_dir: Path, *overrides: str, logger: str | None = "csv") -> Path:
    """`python -m maeum.train` into `run_dir` in a process of its own, with `logger` (None: the config's
    default loggers) and `tests/` on its PYTHONPATH (for `helpers.resume`); asserts that it exits 0."""
    loggers = [f"logger={logger}"] if logger else []
    args = [*loggers, "extras.print_config=false", f"hydra.run.dir={run_dir}", *overrides]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = entry_points.run("maeum.train", *args, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir


def multirun_subprocess(
    sweep_dir: Path, *overrides: str, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m maeum.train -m` into `sweep_dir` (its logs beside it) in a process of its own; asserts
    that it exits 0 and returns it (its output as text)."""
    logs = quoted(sweep_dir.parent / "logs")
    sweep = quoted(sweep_dir)
    args = [
        "-m",
        f"paths.log_dir={logs}",
        f"hydra.sweep.dir={sweep}",
        "extras.print_config=false",
        *overrides,
    ]
    proc = entry_points.run("maeum.train", *args, cwd=REPO, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def epoch_metrics(run_dir: Path) -> dict[str, dict[int, float]]:
    """A run's validation and test metrics from its CSV log: metric -> {epoch: value} (test: -1)."""
    (metrics_csv,) = run_dir.glob("csv/version_*/metrics.csv")
    metrics: dict[str, dict[int, float]] = {}
    with metrics_csv.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for name, value in row.items():
                if value and (name.startswith("val/") or name.startswith("test/")):
                    epoch = -1 if name.startswith("test/") else int(row["epoch"])
                    metrics.setdefault(name, {})[epoch] = float(value)
    return metrics


def best_checkpoint(run_dir: Path) -> Path:
    """The run's best checkpoint (`checkpoints/epoch_NNN.ckpt`)."""
    (best,) = (run_dir / "checkpoints").glob("epoch_*.ckpt")
    return best


def trained_epochs(run_dir: Path) -> list[int]:
    """Epochs that logged a training loss, from the run's CSV log."""
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as f:
        return sorted({int(row["epoch"]) for row in csv.DictReader(f) if row.get("train/loss_epoch")})
