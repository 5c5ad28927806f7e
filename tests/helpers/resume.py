"""Ways to die, for the kill-safe resume tests (`tests/test_resume.py`), loaded by `maeum.train` subprocesses
through Hydra (`+callbacks.kill._target_=helpers.resume.KillAt`, with `tests/` on PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any, BinaryIO

from pytorch_lightning import Callback, Trainer

from maeum.training.saving import AtomicCheckpointIO


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt(Callback):
    """SIGKILLs its own process in the Lightning callback hook `hook` (e.g. `on_train_batch_end`,
    `on_validation_batch_end`, `on_test_batch_start`), the first time it runs with `trainer.global_step ==
    step` (any step when `step` is None).

    Lightning runs the checkpoint callbacks after every other callback, so a kill in `on_train_batch_end` at
    step N comes before step N's `last.ckpt` is written: with `every_n_train_steps=1` the run resumes from
    step N-1.
    """

    def __init__(self, hook: str, step: int | None = None) -> None:
        if not hook.startswith("on_") or not callable(getattr(Callback, hook, None)):
            raise ValueError(f"not a Lightning callback hook: {hook}")
        self.hook, self.step = hook, step
        setattr(self, hook, self._maybe_die)

    def _maybe_die(self, trainer: Trainer, *args: Any, **kwargs: Any) -> None:
        if not trainer.sanity_checking and (self.step is None or trainer.global_step == self.step):
            _die()


class DiesWhileWriting(AtomicCheckpointIO):
    """Writes half of its `at_save`-th checkpoint to disk, then SIGKILLs its own process."""

    def __init__(self, at_save: int) -> None:
        super().__init__()
        self.at_save, self.saves = at_save, 0

    def _save(self, checkpoint: dict[str, Any], f: BinaryIO) -> None:
        self.saves += 1
        super()._save(checkpoint, f)
        if self.saves == self.at_save:
            f.flush()
            f.truncate(f.tell() // 2)
            os.fsync(f.fileno())
            _die()


class SlowSteps(Callback):
    """Sleeps `seconds` after each training step, so that a run lasts long enough to be signalled by SLURM
    (its time limit is checked every 30 s) without using a core; the results do not change."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer: Trainer, *args: Any, **kwargs: Any) -> None:
        time.sleep(self.seconds)
