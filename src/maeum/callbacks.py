"""Lightning callbacks that maeum adds to every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import Callback, LightningModule, Trainer

from maeum import __version__
from maeum.errors import MaeumError

CHECKPOINT_KEY = "maeum"


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
        checkpoint[CHECKPOINT_KEY] = {"config": self.config, "version": __version__}


def load_run_config(ckpt_path: str | Path) -> DictConfig:
    """The resolved training config stored in a checkpoint by `RunConfigCallback`."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise MaeumError(
            f"checkpoint not found: {path}. Set ckpt_path to a .ckpt file written by maeum-train."
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if CHECKPOINT_KEY not in checkpoint:
        raise MaeumError(
            f"{path}: not a maeum checkpoint (it holds no run config); train it with maeum-train."
        )
    return OmegaConf.create(checkpoint[CHECKPOINT_KEY]["config"])
