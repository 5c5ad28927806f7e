"""The optimizer and LR schedule that every maeum LightningModule uses, written once.

The optimizer is a Hydra config (`_target_` plus kwargs, default AdamW); biases and normalisation
weights (every parameter with fewer than 2 dimensions) get no weight decay. The schedule is any
`transformers.get_scheduler` name, stepped every optimizer step, with linear warmup over `warmup_ratio`
of all training steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from pytorch_lightning import LightningModule
from transformers import get_scheduler


def param_groups(module: LightningModule) -> list[dict[str, Any]]:
    """Two groups: weights with the optimizer's weight decay, biases and norm weights without."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2]},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def configure_optimizers(
    module: LightningModule, optimizer: Mapping[str, Any], scheduler: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`LightningModule.configure_optimizers` for an optimizer config and an optional schedule config."""
    # As a partial, so that Hydra does not turn the parameter groups into configs.
    opt = instantiate({**optimizer, "_partial_": True})(param_groups(module))
    if not scheduler:
        return {"optimizer": opt}
    total = module.trainer.estimated_stepping_batches
    sched = get_scheduler(
        scheduler["name"],
        optimizer=opt,
        num_warmup_steps=int(scheduler.get("warmup_ratio", 0.0) * total),
        num_training_steps=total,
        scheduler_specific_kwargs=scheduler.get("kwargs"),
    )
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
