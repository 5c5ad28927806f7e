"""Every private name of Lightning that maeum touches, read here and nowhere else, and checked at start-up.

Exact resume (`maeum.training.resume`) needs what Lightning keeps to itself: the random-state helpers that
Fabric's checkpoints use, the fit loop's data fetcher and its loader-state hand-over, the combined loader,
the wall-time validation interval, and the layout of the fit loop's progress in a checkpoint. A Lightning
release that renames one of them would break resume in the field, silently. So each is reached through a
function of this module, `check(trainer)` runs when a fit starts (one clear error that names the installed
Lightning and the versions maeum is tested with), and `tests/test_resume.py` checks them on the installed
Lightning.

`TESTED` is the range of Lightning minors the test suite passes on; `pyproject.toml` pins the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytorch_lightning
from lightning_fabric.utilities import seed as fabric_seed
from packaging.version import Version
from pytorch_lightning import Trainer

from maeum.errors import MaeumError

TESTED = ("2.5", "2.6")  # the minors the suite passes on (pyproject: pytorch-lightning>=2.5.3,<2.7)
RNG_HELPERS = ("_collect_rng_states", "_set_rng_states")  # lightning_fabric.utilities.seed
FIT_LOOP = ("_data_fetcher", "_combined_loader", "_combined_loader_states_to_load")  # FitLoop attributes
FIT_LOOP_METHODS = ("_load_combined_loader_states",)
TRAINER = ("_val_check_time_interval",)  # Lightning 2.6; absent before it, read as None
# the fit loop's progress in a checkpoint (`checkpoint["loops"]["fit_loop"]`)
PROGRESS = ("epoch_loop.batch_progress", "epoch_progress", "epoch_loop.val_loop.batch_progress")
BATCHES_STEPPED = ("epoch_loop.state_dict", "_batches_that_stepped")


def missing(trainer: Trainer | None = None) -> list[str]:
    """The private names this Lightning lacks (on `trainer`'s fit loop too, when given)."""
    gone = [f"lightning_fabric.utilities.seed.{n}" for n in RNG_HELPERS if not hasattr(fabric_seed, n)]
    fit_loop_class = type(trainer.fit_loop) if trainer is not None else _fit_loop_class()
    gone += [f"FitLoop.{n}" for n in FIT_LOOP_METHODS if not callable(getattr(fit_loop_class, n, None))]
    if trainer is not None:
        gone += [f"FitLoop.{n}" for n in FIT_LOOP if not hasattr(trainer.fit_loop, n)]
        if Version(pytorch_lightning.__version__) >= Version("2.6") and not hasattr(trainer, TRAINER[0]):
            gone.append(f"Trainer.{TRAINER[0]}")
    return gone


def check(trainer: Trainer | None = None) -> None:
    """Refuse to train on a Lightning that lacks a private name exact resume needs (one clear error)."""
    if gone := missing(trainer):
        raise MaeumError(
            f"pytorch-lightning {pytorch_lightning.__version__} lacks {', '.join(gone)}, which maeum's exact "
            f"resume needs; maeum is tested with pytorch-lightning {' and '.join(f'{v}.x' for v in TESTED)}: "
            f"install one of those (pip install 'pytorch-lightning>=2.5.3,<2.7')."
        )


def _fit_loop_class() -> type:
    from pytorch_lightning.loops.fit_loop import _FitLoop

    return _FitLoop


# ------------------------------------------------------------------------------------- the private reads
def collect_rng_states(include_cuda: bool) -> dict[str, Any]:
    return fabric_seed._collect_rng_states(include_cuda=include_cuda)


def set_rng_states(states: dict[str, Any]) -> None:
    fabric_seed._set_rng_states(states)


def data_fetcher(trainer: Trainer) -> Any:
    return trainer.fit_loop._data_fetcher


def restore_loader_states(trainer: Trainer, states: list[dict[str, Any]]) -> None:
    """Hand the saved loader states to the fit loop and load them (it prefetches on its own)."""
    fit_loop = trainer.fit_loop
    fit_loop._combined_loader_states_to_load = states
    fit_loop._load_combined_loader_states()


def train_loaders(trainer: Trainer) -> Iterable[Any]:
    return trainer.fit_loop._combined_loader.flattened


def validates_by_time(trainer: Trainer) -> bool:
    """Whether validation runs by wall time (`val_check_interval` as a time span, Lightning 2.6)."""
    return getattr(trainer, TRAINER[0], None) is not None


def fit_progress(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The fit loop's saved state (`{}` when the checkpoint has none)."""
    return checkpoint.get("loops", {}).get("fit_loop", {})
