"""Training runs on disk: `find_runs` below some directories, `read_run` for one run's identity (its saved
config and Hydra's choices) and its per-epoch metrics (its CSV log, or else its W&B run file)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from maeum.analysis.leaderboard.tasks import TASKS, Task
from maeum.analysis.leaderboard.wandb_records import wandb_rows
from maeum.errors import MaeumError
from maeum.runs.files import FAILED, METRICS_CSV, RUN_CONFIG, UNKNOWN_ID, read_yaml
from maeum.runs.kinds import kind_of

log = logging.getLogger(__name__)

OVERFIT_TOLERANCE = 1.05  # the last epoch is worse than the best by more than 5%


@dataclass
class Run:
    path: Path
    task: Task
    backbone: str
    data: str
    label_mask: str
    max_epochs: int
    experiment: str
    seed: int | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)  # metric → value per epoch
    final: dict[str, float] = field(default_factory=dict)  # last value of every metric

    @property
    def name(self) -> str:
        """The run's directory with its parent's (`<multirun>/<job>`), as the leaderboard names it."""
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def epochs(self) -> int:
        return len(self.curves.get(self.task.metric, []))

    def best_epoch(self) -> int | None:
        """The 0-based epoch of the best comparable metric (the first on ties), or None if none is finite."""
        values = self.curves.get(self.task.metric, [])
        finite = [i for i, v in enumerate(values) if math.isfinite(v)]
        if not finite:
            return None
        pick = min if self.task.mode == "min" else max
        return pick(finite, key=lambda i: values[i])

    def overfitting(self) -> bool:
        best = self.best_epoch()
        if best is None:
            return False
        values = self.curves[self.task.metric]
        last = values[-1]
        top = values[best]
        return last > top * OVERFIT_TOLERANCE if self.task.mode == "min" else last < top / OVERFIT_TOLERANCE


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every training run at or below `paths` (a directory with the `config.yaml` maeum-train saves)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise MaeumError(f"{path}: not a directory. Give run or multirun directories under logs/train/.")
        if (path / RUN_CONFIG).is_file() and not _is_train_run(path / RUN_CONFIG):
            raise MaeumError(f"{path}: not a maeum-train run (its {RUN_CONFIG} has another task_name).")
        runs = [path] if (path / RUN_CONFIG).is_file() else sorted(_run_dirs(path), key=_natural)
        for failed in sorted(path.rglob(FAILED), key=_natural):  # a multirun's failed runs: said, left out
            reason = failed.read_text(encoding="utf-8").strip().splitlines()[:1] or ["no reason saved"]
            log.warning("Left out %s: the run failed (%s)", failed.parent, reason[0])
            runs = [r for r in runs if r != failed.parent]
        if not runs:
            raise MaeumError(f"{path}: no maeum-train run below it (no {RUN_CONFIG}).")
        found += [r for r in runs if r not in found]
    return found


def _run_dirs(root: Path) -> Iterable[Path]:
    """Directories below `root` with a saved run config (not Hydra's `.hydra/` copy, not W&B's files)."""
    for config in root.rglob(RUN_CONFIG):
        inside = config.relative_to(root).parts[:-1]
        if not any(part in (".hydra", "wandb") for part in inside) and _is_train_run(config):
            yield config.parent


def _is_train_run(config: Path) -> bool:
    """A config saved by maeum-train (eval and data-stats runs save one too)."""
    return read_yaml(config).get("task_name") == "train"


def _natural(path: Path) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in path.parts)


def read_run(path: Path) -> Run:
    """A run's identity (from its saved config) and its per-epoch metrics."""
    cfg = read_yaml(path / RUN_CONFIG)
    choices = _hydra_choices(path)
    kind = kind_of(cfg)
    task = next((task for task in TASKS if task.kind == (kind.ranks_as or kind.name)), None)
    if task is None:
        raise MaeumError(
            f"{path}: a {kind.name} run, which maeum-leaderboard does not rank (it compares "
            f"{' and '.join(t.kind for t in TASKS)} runs); its test metrics are in its csv/ log."
        )
    masked = task.masked
    run = Run(
        path=path,
        task=task,
        backbone=_backbone_name(cfg, choices),
        data=_data_name(cfg, choices),
        label_mask=str(cfg["data"]["label_mask"]) if masked else "",
        max_epochs=int(cfg["trainer"].get("max_epochs") or 0),
        experiment=choices.get("experiment") or "",
        seed=cfg.get("seed"),
    )
    rows = _csv_rows(path) or wandb_rows(path)
    if rows is None:
        raise MaeumError(
            f"{path}: no metrics logged (neither {METRICS_CSV} nor a W&B run file). Train with "
            "logger=default (CSV and W&B) or logger=csv."
        )
    run.curves, run.final = _per_epoch(rows)
    return run


def _backbone_name(cfg: Mapping[str, Any], choices: dict[str, str]) -> str:
    """The backbone as the run chose it (`backbone=` config name, else its `name_or_path`), marked
    `(random init)` when the run trained its architecture from random weights (`model.pretrained: false`),
    so that a pretrained row and its from-scratch twin on one backbone directory read apart."""
    name = choices.get("backbone") or str(cfg.get("backbone", {}).get("name_or_path", "?"))
    return f"{name} (random init)" if cfg.get("model", {}).get("pretrained") is False else name


def _data_name(cfg: dict, choices: dict[str, str]) -> str:
    """The data config's name (else the corpus file's), and where a preference run's rejected replies come
    from (`preference/chatbotdata (self_play)`): arms that differ only in it are told apart."""
    name = choices.get("data") or Path(str(cfg["data"].get("path", "?"))).name
    rejected = choices.get("data/rejected")
    return f"{name} ({rejected})" if rejected else name


def _hydra_choices(path: Path) -> dict[str, str]:
    hydra_file = path / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return {}
    choices = read_yaml(hydra_file)["hydra"]["runtime"]["choices"]
    return {k: str(v) for k, v in choices.items() if v is not None}


def _csv_rows(path: Path) -> list[dict[str, float]] | None:
    files = sorted(path.glob(METRICS_CSV), key=_natural)
    if not files:
        return None
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    return [{k: float(v) for k, v in row.items() if pd.notna(v)} for row in frame.to_dict("records")]


def _per_epoch(rows: Sequence[dict[str, float]]) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Each metric's last value within each epoch (epochs in order), and each metric's last value."""
    by_epoch: dict[int, dict[str, float]] = {}
    final: dict[str, float] = {}
    for row in rows:
        final.update(row)
        if "epoch" in row:
            by_epoch.setdefault(int(row["epoch"]), {}).update(
                {k: v for k, v in row.items() if k.startswith(("train/", "val/"))}
            )
    metrics = sorted({k for values in by_epoch.values() for k in values})
    curves = {
        m: [by_epoch[e][m] for e in sorted(by_epoch) if m in by_epoch[e]]
        for m in metrics
        if not m.endswith(("_step", "_best"))
    }
    return curves, final


def read_dialogue_file(
    path: Path, where: str, columns: Sequence[str], dtype: Any = str, missing_about: str = ""
) -> tuple[pd.DataFrame, dict] | str:
    """A per-test-dialogue file of a run (`test_generations.csv`, `test_selection.csv`) and the `.json`
    written beside it, checked (columns, the row count it was written with, known ids); or what is wrong.
    `where` names it in the message; `missing_about` says what a missing `.json` costs."""
    about_path = path.with_suffix(".json")
    try:
        about = json.loads(about_path.read_text(encoding="utf-8"))
        frame = pd.read_csv(path, dtype=dtype, encoding="utf-8", keep_default_na=False)
    except FileNotFoundError:
        return f"{where} has no {about_path.name} beside it{missing_about}"
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        return f"{where} is not readable ({type(err).__name__})"
    if missing := [c for c in columns if c not in frame.columns]:
        return f"{where} lacks the column(s) {missing}; re-test the run with maeum-eval"
    if len(frame) != about.get("dialogues"):
        return f"{where} is truncated: {len(frame)} rows of the {about.get('dialogues')} it was written with"
    if any(i.endswith(UNKNOWN_ID) or not i for i in frame["id"]):
        return f"{where} does not identify its test dialogues"
    return frame, about
