"""LightningModule mixins for what maeum keeps in its checkpoints beside Lightning's own state: the best
validation value of the run (`BestSurvivesResume`), and, with adapters, only the trainable weights
(`FrozenBaseNotSaved`)."""

from __future__ import annotations

import math
from typing import Any

from torchmetrics import MaxMetric, MinMetric

from maeum.runs.files import BEST_KEY, FROZEN_KEY


class BestSurvivesResume:
    """A LightningModule mixin: `val/*_best` counts the whole run, the epochs before a kill included.

    The module's best-so-far metric (the torchmetrics `MaxMetric`/`MinMetric` named by `BEST`) rides in
    every checkpoint, and is set again at the start of a resumed fit, right after the sanity check's
    validation has been forgotten. Without it, a resumed run's `val/*_best` (an Optuna objective, what
    `maeum-leaderboard` ranks by) would be the best since the resume.
    """

    BEST: str

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        (value,) = self._best().metric_state.values()
        checkpoint[BEST_KEY] = float(value)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resumed_best = checkpoint.get(BEST_KEY)

    def on_train_start(self) -> None:
        best = self._best()
        best.reset()  # forget the sanity check's validation
        resumed = getattr(self, "_resumed_best", None)
        self._resumed_best = None
        if resumed is not None and math.isfinite(resumed):
            best.update(resumed)

    def _best(self) -> MaxMetric | MinMetric:
        return getattr(self, self.BEST)


class FrozenBaseNotSaved:
    """A LightningModule mixin: with adapters (`model.peft`), a checkpoint holds the trainable parameters
    (the adapters and any head), the buffers and the optimizer state of those, not the frozen base
    weights (under any of their names, tied ones included), which the module loads from its backbone
    anyway. On load the base is filled back in from the module's own (pretrained) weights, so that
    Lightning's strict loading still checks every other key."""

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
        """Every state-dict name of a frozen parameter, each name of a tied one included (a tied output
        layer, Qwen's `lm_head.weight`, is the frozen input embedding under a second name)."""
        named = self.named_parameters(remove_duplicate=False)  # type: ignore[attr-defined]
        return {name for name, p in named if not p.requires_grad}
