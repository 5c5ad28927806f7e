"""Runs that differ only in `seed` are one variant (`variant_key`, `group_runs`): a `Row` of the leaderboard
with its per-epoch mean curves and its intervals across seeds."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maeum._moved import canonical
from maeum.analysis.leaderboard.runs import Run
from maeum.analysis.leaderboard.tasks import Task
from maeum.analysis.stats import Interval, Paired, seed_interval
from maeum.runs.files import RUN_CONFIG, read_yaml

log = logging.getLogger(__name__)


def variant_key(path: Path) -> str:
    """What a run is, but for its seed: Hydra's composed config (`.hydra/config.yaml`, before interpolation,
    so paths that hold the run's directory stay equal) without `seed` and `ckpt_path` (a resumed run is its
    seed's run) and `model.kind`, its `_target_`s as today's code names them; for a run without it, the
    saved resolved config without those, `data.shuffle_seed`, `paths` and the run's own directory."""
    raw = path / ".hydra" / RUN_CONFIG
    resolved = not raw.is_file()
    cfg = read_yaml(path / RUN_CONFIG if resolved else raw)
    for key in ("seed", "ckpt_path"):
        cfg.pop(key, None)
    if isinstance(cfg.get("model"), dict):  # the kind follows from the module: runs from before it say none
        cfg["model"].pop("kind", None)
    cfg = _canonical_targets(cfg)
    if not resolved:
        return json.dumps(cfg, sort_keys=True, ensure_ascii=False, default=str)
    own_dir = str((cfg.pop("paths", None) or {}).get("output_dir") or path)
    if isinstance(cfg.get("data"), dict):
        cfg["data"].pop("shuffle_seed", None)
    return json.dumps(cfg, sort_keys=True, ensure_ascii=False, default=str).replace(own_dir, "<run>")


def _canonical_targets(node: Any) -> Any:
    """Every `_target_` as today's code names it (`maeum._moved.canonical`): a module that moved does not
    make two variants of one."""
    if isinstance(node, dict):
        return {k: canonical(v) if k == "_target_" and isinstance(v, str) else _canonical_targets(v)
                for k, v in node.items()}  # fmt: skip
    if isinstance(node, list):
        return [_canonical_targets(v) for v in node]
    return node


def group_runs(runs: Sequence[Run], per_run: bool = False) -> list[list[Run]]:
    """Runs that differ only in `seed`, together (in first-seen order); each run alone with `per_run`.

    Within a variant each seed counts once: of runs that share a seed (a killed run and its resumed twin,
    or a repeat), the tested one with the most epochs stays, and the log names both."""
    if per_run:
        return [[run] for run in runs]
    groups: dict[str, dict[object, Run]] = {}
    for run in runs:
        seeds = groups.setdefault(variant_key(run.path), {})
        kept = seeds.get(run.seed)
        if kept is not None:
            keep = max((kept, run), key=lambda r: (any(k.startswith("test/") for k in r.final), r.epochs))
            log.warning(
                "%s and %s are one variant with seed %s: keeping %s (tested, more epochs)",
                kept.name,
                run.name,
                run.seed,
                keep.name,
            )
            run = keep
        seeds[run.seed] = run
    return [list(seeds.values()) for seeds in groups.values()]


@dataclass
class Row:
    """One variant: its runs (one per seed), their per-epoch mean curves and their spread."""

    runs: list[Run]
    mean: Run = field(init=False)  # the per-epoch means over the runs, as a Run (best epoch, overfitting)
    paired: Paired | None = None
    mcnemar_p: float | None = None
    pair_note: str = ""  # why there is no paired comparison, or whom it is against
    said: Any = None  # its replies (`replies.Said`), or why there are none; None for classifiers
    replies_paired: dict[str, Paired] = field(default_factory=dict)  # paired reply metrics vs reference
    replies_note: str = ""  # whom they are paired with, or why they are not
    selection_p: float | None = None  # McNemar's exact p of its reply selection hits vs its reference
    selection_note: str = ""  # whom its reply selection is paired with, or why it is not

    def __post_init__(self) -> None:
        first = self.runs[0]
        self.mean = Run(first.path, first.task, "", "", "", 0, "")
        metrics = sorted({m for run in self.runs for m in run.curves})
        self.mean.curves = {m: [i.mean for i in self.epoch_intervals(m)] for m in metrics}

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def task(self) -> Task:
        return self.first.task

    @property
    def curves(self) -> dict[str, list[float]]:
        return self.mean.curves

    def epoch_intervals(self, metric: str) -> list[Interval]:
        """Per epoch, the runs' values of `metric` across seeds, for the epochs every run has (early stopping
        may end seeds at different epochs; a mean over the survivors alone would mislead)."""
        curves = [run.curves.get(metric, []) for run in self.runs]
        return [seed_interval([c[e] for c in curves]) for e in range(min(map(len, curves)))]

    def best(self) -> Interval:
        """The best comparable metric of each run (its own best epoch), across the runs."""
        return seed_interval([_best(run) for run in self.runs])

    def test(self, metric: str) -> Interval:
        return seed_interval([run.final[metric] for run in self.runs if metric in run.final])


def _best(run: Run) -> float:
    """The run's best comparable metric (`nan` if it logged none)."""
    best = run.best_epoch()
    return run.curves[run.task.metric][best] if best is not None else math.nan
