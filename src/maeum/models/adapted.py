"""Checkpoints of adapter runs: the trainable weights only, the frozen base read again from the backbone."""

from __future__ import annotations

from typing import Any

FROZEN_KEY = "maeum_frozen_base"


class FrozenBaseNotSaved:
    """A LightningModule mixin: with adapters (`model.peft`), a checkpoint holds the trainable parameters
    (the adapters and any head), the buffers and the optimizer state of those, not the frozen base
    weights, which the module loads from its backbone anyway. On load the base is filled back in from the
    module's own (pretrained) weights, so that Lightning's strict loading still checks every other key."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)  # type: ignore[misc]
        frozen = self._frozen_names()
        if frozen:
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k not in frozen}
            checkpoint[FROZEN_KEY] = len(frozen)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)  # type: ignore[misc]
        if checkpoint.get(FROZEN_KEY):
            own = self.state_dict()  # type: ignore[attr-defined]
            state = checkpoint["state_dict"]
            for name in self._frozen_names():
                state.setdefault(name, own[name])

    def _frozen_names(self) -> set[str]:
        return {name for name, p in self.named_parameters() if not p.requires_grad}  # type: ignore[attr-defined]
