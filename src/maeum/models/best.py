"""The best validation value of a run, kept across a resume."""

from __future__ import annotations

import math
from typing import Any

from torchmetrics import MaxMetric, MinMetric

CHECKPOINT_KEY = "maeum_val_best"


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
        checkpoint[CHECKPOINT_KEY] = float(value)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resumed_best = checkpoint.get(CHECKPOINT_KEY)

    def on_train_start(self) -> None:
        best = self._best()
        best.reset()  # forget the sanity check's validation
        resumed = getattr(self, "_resumed_best", None)
        self._resumed_best = None
        if resumed is not None and math.isfinite(resumed):
            best.update(resumed)

    def _best(self) -> MaxMetric | MinMetric:
        return getattr(self, self.BEST)
