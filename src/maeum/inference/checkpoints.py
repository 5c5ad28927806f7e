"""Reading what maeum-train writes: checkpoint files and the run config stored in them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from maeum.errors import MaeumError
from maeum.runs.files import EXPORT_META, RUN_KEY


def read_checkpoint(ckpt_path: str | Path) -> dict[str, Any]:
    """A checkpoint file's contents (tensors memory-mapped), or one `MaeumError` that says what is wrong."""
    path = Path(ckpt_path).expanduser()
    if path.is_dir():
        raise MaeumError(describe_directory(path))
    if not path.is_file():
        raise MaeumError(
            f"checkpoint not found: {path}. Set ckpt_path to a .ckpt file written by maeum-train."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # a damaged file: OSError, RuntimeError, EOFError, UnpicklingError, ...
        raise MaeumError(
            f"{path}: not a readable checkpoint (truncated, unreadable, or not a file written by "
            f"maeum-train: {type(err).__name__}: {str(err)[:120]}). Give an intact .ckpt, e.g. a run's "
            "checkpoints/epoch_*.ckpt."
        ) from err


def describe_directory(path: Path) -> str:
    """Why `path`, a directory, is neither a checkpoint nor a `maeum-export` directory (or is an export)."""
    lacks = [name for name in (EXPORT_META, "config.json") if not (path / name).is_file()]
    if not lacks:
        return f"{path}: a maeum-export directory, not a checkpoint; give the .ckpt it was exported from."
    found = sorted(path.glob("*.ckpt")) or sorted(path.glob("checkpoints/*.ckpt"))
    hint = f" It holds {', '.join(str(p) for p in found[:3])}: give one of those." if found else ""
    return (
        f"{path}: a directory that is neither a checkpoint nor a maeum-export directory (it has no "
        f"{' and no '.join(lacks)}). Give a .ckpt written by maeum-train or a directory written by "
        f"maeum-export.{hint}"
    )


def load_run_config(ckpt_path: str | Path) -> DictConfig:
    """The resolved training config stored in a checkpoint by `RunConfigCallback`."""
    checkpoint = read_checkpoint(ckpt_path)
    if RUN_KEY not in checkpoint:
        raise MaeumError(
            f"{ckpt_path}: not a maeum checkpoint (it holds no run config); train it with maeum-train."
        )
    return OmegaConf.create(checkpoint[RUN_KEY]["config"])
