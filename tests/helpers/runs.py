"""Reading a finished run's directory."""

from __future__ import annotations

import csv
from pathlib import Path


def best_checkpoint(run_dir: Path) -> Path:
    """The run's best checkpoint (`checkpoints/epoch_NNN.ckpt`)."""
    (best,) = (run_dir / "checkpoints").glob("epoch_*.ckpt")
    return best


def trained_epochs(run_dir: Path) -> list[int]:
    """Epochs that logged a training loss, from the run's CSV log."""
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as f:
        return sorted({int(row["epoch"]) for row in csv.DictReader(f) if row.get("train/loss_epoch")})
