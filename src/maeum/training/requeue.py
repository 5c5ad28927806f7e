"""A run under SLURM that is preempted or reaches its time limit comes back where it stopped.

One mechanism: submitit's checkpoint-and-requeue (`hydra/launcher=slurm`). SLURM sends the job `SIGUSR2`
before its time limit (`signal_delay_s`) and on preemption; submitit's handler saves the submission and
requeues the job; when it starts again it runs the same run in the same run directory, and `train` resumes
from that directory's `checkpoints/last.ckpt` (`requeued_checkpoint`), bit for bit as a resume after a
kill does (`maeum.training.resume`).

Two things make that safe:
- submitit's handler exits from wherever the signal lands. `defer_requeue` holds the signal until the next
  batch starts (`RequeueCallback`), so that the exit never falls inside a checkpoint write or Lightning's
  bookkeeping, and raises `Requeued`, which a sweep does not take for a failed run.
- Lightning arms its own SLURM requeue on `SIGUSR1` when it finds a SLURM job (`SLURMEnvironment`):
  `cluster_plugins` turns it off, and keeps Lightning reading ranks and addresses from SLURM.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.plugins.environments import SLURMEnvironment

from maeum.runs.files import CHECKPOINTS

log = logging.getLogger(__name__)

REQUEUE_SIGNAL = signal.SIGUSR2  # submitit's (`#SBATCH --signal=USR2@<signal_delay_s>`)
_pending: list[int] = []  # the signal, once received and not yet acted on
_deferred: list[Callable[[int, FrameType | None], Any]] = []  # submitit's handler, while held


class Requeued(SystemExit):
    """The job was requeued: this process ends, and the run goes on in the job's next allocation."""


def restarts() -> int:
    """How many times SLURM has requeued this job (0 outside SLURM)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def requeued_checkpoint(output_dir: str | Path) -> Path | None:
    """The run directory's `last.ckpt` when this is a requeued SLURM job that wrote one before."""
    last = Path(output_dir) / CHECKPOINTS / "last.ckpt"
    return last if restarts() > 0 and last.is_file() else None


def cluster_plugins() -> list[Any]:
    """Lightning's SLURM environment without its own requeue, inside a SLURM job; nothing elsewhere."""
    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def _is_submitits(handler: Any) -> bool:
    return getattr(getattr(handler, "__self__", None), "__module__", "").startswith("submitit.")


def defer_requeue() -> bool:
    """Hold submitit's requeue signal until `RequeueCallback` acts on it; True when there was one to hold
    (this process is a submitit job)."""
    handler = signal.getsignal(REQUEUE_SIGNAL)
    if not _is_submitits(handler):
        return False

    def hold(signum: int, frame: FrameType | None) -> None:
        log.warning("Received %s: the job requeues at the next batch", signal.Signals(signum).name)
        _pending.append(signum)

    _deferred.clear()
    _deferred.append(handler)
    signal.signal(REQUEUE_SIGNAL, hold)
    return True


def requeue_if_signalled() -> None:
    """Act on a held requeue signal: submitit checkpoints and requeues the job, and this process ends with
    `Requeued` (or with submitit's error, when the job may not be requeued again)."""
    if not _pending or not _deferred:
        return
    signum = _pending.pop()
    try:
        _deferred[0](signum, None)
    except SystemExit as exit_:
        raise Requeued(exit_.code) from None


class RequeueCallback(Callback):
    """Acts on a held requeue signal as each training, validation or test batch starts."""

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        requeue_if_signalled()

    def on_validation_batch_start(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        requeue_if_signalled()

    def on_test_batch_start(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        requeue_if_signalled()
