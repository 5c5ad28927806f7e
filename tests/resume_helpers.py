"""Ways to die, for the kill-safe resume tests (`tests/test_resume.py`), loaded by `maeum.train` subprocesses
through Hydra (`+callbacks.kill._target_=resume_helpers.KillAtStep`, with `tests/` on PYTHONPATH)."""

from __future__ import annotations

import os
import signal
from typing import Any, BinaryIO

from pytorch_lightning import Callback, Trainer

from maeum.checkpoint_io import AtomicCheckpointIO


class KillAtStep(Callback):
    """SIGKILLs its own process when optimizer step `step` has ended (before that step's checkpoint: Lightning
    runs checkpoint callbacks last)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


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
            os.kill(os.getpid(), signal.SIGKILL)
