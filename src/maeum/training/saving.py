"""What maeum puts into checkpoints: the run's resolved config (`RunConfigCallback`), and files that a kill
can never leave half-written (`AtomicCheckpointIO`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import torch
from lightning_fabric.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import Callback, LightningModule, Trainer

from maeum import __version__
from maeum.runs.files import RUN_KEY


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's `TorchCheckpointIO`, writing each local checkpoint to a temporary file beside it, then
    `fsync` and `os.replace` over the old one: a process killed at any moment leaves either the previous
    complete file or the new complete file.

    Lightning's own save goes through an fsspec transaction whose temporary file lies in `$TMPDIR`: where that
    is another filesystem than the run directory (a node-local /tmp and a shared log directory, as on most
    clusters), the final move is a copy into the target, and a kill during that copy truncates `last.ckpt`.
    Remote paths (`s3://`, ...) keep Lightning's behaviour.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a run killed while writing
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as f:  # streamed: no second copy of the checkpoint in memory
                self._save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)  # the rename itself survives a power cut
        return None

    def _save(self, checkpoint: dict[str, Any], f: BinaryIO) -> None:
        torch.save(checkpoint, f)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms (Windows): nothing to sync there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RunConfigCallback(Callback):
    """Stores the run's resolved config in every checkpoint it saves.

    A checkpoint then carries everything needed to rebuild its data and model (`maeum.eval`), even after
    it has been moved away from its run directory.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.config = OmegaConf.to_container(cfg, resolve=True)

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[RUN_KEY] = {"config": self.config, "version": __version__}
