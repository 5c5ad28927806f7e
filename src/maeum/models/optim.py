"""The optimizer and LR schedule that every maeum LightningModule uses, written once.

Both are `_partial_` Hydra configs. The optimizer (default AdamW) gets two parameter groups: biases and
normalisation weights (every parameter with fewer than 2 dimensions) get no weight decay. The scheduler
(default `transformers.get_scheduler`) is called with the warmup and total number of optimizer steps and
stepped every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import LightningModule


def param_groups(module: LightningModule) -> list[dict[str, Any]]:
    """Two groups: weights with the optimizer's weight decay, biases and norm weights without."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2]},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def configure_optimizers(
    module: LightningModule,
    optimizer: Mapping[str, Any],
    scheduler: Mapping[str, Any] | None,
    warmup_ratio: float = 0.0,
) -> dict[str, Any]:
    """`LightningModule.configure_optimizers` from partial optimizer and (optional) scheduler configs."""
    opt = instantiate(optimizer)(param_groups(module))
    if not scheduler:
        return {"optimizer": opt}
    total = module.trainer.estimated_stepping_batches
    sched = instantiate(scheduler)(
        optimizer=opt, num_warmup_steps=int(warmup_ratio * total), num_training_steps=total
    )
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def plain_dict(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A config (DictConfig or mapping) as a plain, resolved dict, as `save_hyperparameters` keeps it."""
    if cfg is None:
        return None
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
