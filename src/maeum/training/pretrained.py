"""`SavePretrained`: at the end of a pretraining fit, the best weights as a backbone directory."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.utilities import rank_zero_only

log = logging.getLogger(__name__)


class SavePretrained(Callback):
    """Writes the module's `save_pretrained` directory (`maeum.models.pretrain.PretrainLM`) to `dirpath`
    when fitting ends, from the best checkpoint's weights when there is one (else the last weights), so
    that `backbone.name_or_path=<dirpath>` fine-tunes what validation chose."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
            pl_module.load_state_dict(state)
            log.info("Saving the weights of the best checkpoint %s", best)
        pl_module.save_pretrained(self.dirpath)  # type: ignore[operator]
