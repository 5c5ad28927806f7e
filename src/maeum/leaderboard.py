"""`maeum-leaderboard RUN_DIR_OR_MULTIRUN_DIR...`: one fair table from many training runs.

Every run directory below the given paths (a directory with the `config.yaml` that `maeum-train` saves)
becomes one row: backbone, epochs run, data, label mask, the per-epoch trajectories of `train/loss`,
`val/loss` and the run's comparable metric, the best epoch, and an overfitting flag (the last epoch is more
than 5% worse than the best). Chatbot runs are ranked by their best `val/response_ppl`, the one metric
that means the same under every label mask (`val/loss` is taken over each mask's own tokens, so it only
compares within one mask); classifier runs by their best `val/f1_macro`, with `val/acc` alongside.

Metrics come from the run's CSV log (`csv/version_*/metrics.csv`), or else from its W&B files
(`wandb/*run-*/run-*.wandb`, offline or synced). It writes `leaderboard.md`, `leaderboard.csv` and
`leaderboard.png` (the comparable metric per epoch, one line per run) to `--output` (default: the first
path), prints the markdown, and with `--wandb` logs the table and the figure to a W&B run (offline unless
credentials are set).

    maeum-leaderboard logs/train/multiruns/2026-11-22_10-00-00 [more dirs...] [--output DIR] [--wandb]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import MaxNLocator
from omegaconf import OmegaConf

from maeum.errors import MaeumError
from maeum.reports import hangul_font
from maeum.runtime import wandb_mode

log = logging.getLogger(__name__)

OVERFIT_TOLERANCE = 1.05  # the last epoch is worse than the best by more than 5%


@dataclass(frozen=True)
class Task:
    """What a leaderboard ranks for one kind of run."""

    name: str
    metric: str  # the comparable metric, per epoch
    mode: str  # "min" or "max"
    trajectories: tuple[str, ...]  # per-epoch columns, in order
    tests: tuple[str, ...]  # test metrics shown when logged
    note: str


CHATBOT = Task(
    name="chatbot",
    metric="val/response_ppl",
    mode="min",
    trajectories=("train/loss_epoch", "val/loss", "val/response_ppl"),
    tests=("test/response_ppl", "test/response_acc"),
    note=(
        "Ranked by the best val/response_ppl: perplexity over the final reply and its </s>, computed the "
        "same way under every label mask. val/loss is taken over each mask's own target tokens, so it only "
        "compares runs of one mask."
    ),
)
CLASSIFIER = Task(
    name="classifier",
    metric="val/f1_macro",
    mode="max",
    trajectories=("train/loss_epoch", "val/loss", "val/acc", "val/f1_macro"),
    tests=("test/acc", "test/f1_macro"),
    note="Ranked by the best val/f1_macro (macro-F1 on the validation split).",
)


@dataclass
class Run:
    path: Path
    task: Task
    backbone: str
    data: str
    label_mask: str
    max_epochs: int
    experiment: str
    curves: dict[str, list[float]] = field(default_factory=dict)  # metric → value per epoch
    final: dict[str, float] = field(default_factory=dict)  # last value of every metric

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
        last, top = values[-1], values[best]
        return last > top * OVERFIT_TOLERANCE if self.task.mode == "min" else last < top / OVERFIT_TOLERANCE


# ------------------------------------------------------------------------------------------------ reading
def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every training run at or below `paths` (a directory with the `config.yaml` maeum-train saves)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise MaeumError(f"{path}: not a directory. Give run or multirun directories under logs/train/.")
        if (path / "config.yaml").is_file() and not _is_train_run(path / "config.yaml"):
            raise MaeumError(f"{path}: not a maeum-train run (its config.yaml has another task_name).")
        runs = [path] if (path / "config.yaml").is_file() else sorted(_run_dirs(path), key=_natural)
        if not runs:
            raise MaeumError(f"{path}: no maeum-train run below it (no config.yaml).")
        found += [r for r in runs if r not in found]
    return found


def _run_dirs(root: Path) -> Iterable[Path]:
    """Directories below `root` with a saved run config (not Hydra's `.hydra/` copy, not W&B's files)."""
    for config in root.rglob("config.yaml"):
        inside = config.relative_to(root).parts[:-1]
        if not any(part in (".hydra", "wandb") for part in inside) and _is_train_run(config):
            yield config.parent


def _is_train_run(config: Path) -> bool:
    """A config saved by maeum-train (eval and data-stats runs save one too)."""
    return OmegaConf.load(config).get("task_name") == "train"


def _natural(path: Path) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in path.parts)


def read_run(path: Path) -> Run:
    """A run's identity (from its saved config) and its per-epoch metrics."""
    cfg = OmegaConf.load(path / "config.yaml")
    choices = _hydra_choices(path)
    chatbot = "label_mask" in cfg.data
    run = Run(
        path=path,
        task=CHATBOT if chatbot else CLASSIFIER,
        backbone=str(cfg.get("backbone", {}).get("name_or_path", "?")),
        data=choices.get("data") or Path(str(cfg.data.get("path", "?"))).name,
        label_mask=str(cfg.data.label_mask) if chatbot else "",
        max_epochs=int(cfg.trainer.get("max_epochs") or 0),
        experiment=choices.get("experiment") or "",
    )
    rows = _csv_rows(path) or _wandb_rows(path)
    if rows is None:
        raise MaeumError(
            f"{path}: no metrics logged (neither csv/version_*/metrics.csv nor a W&B run file). Train with "
            "logger=default (CSV and W&B) or logger=csv."
        )
    run.curves, run.final = _per_epoch(rows)
    return run


def _hydra_choices(path: Path) -> dict[str, str]:
    hydra_file = path / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return {}
    choices = OmegaConf.load(hydra_file).hydra.runtime.choices
    return {k: str(v) for k, v in choices.items() if v is not None}


def _csv_rows(path: Path) -> list[dict[str, float]] | None:
    files = sorted(path.glob("csv/version_*/metrics.csv"), key=_natural)
    if not files:
        return None
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    return [{k: float(v) for k, v in row.items() if pd.notna(v)} for row in frame.to_dict("records")]


def _wandb_rows(path: Path) -> list[dict[str, float]] | None:
    files = sorted(path.glob("wandb/*run-*/run-*.wandb"))
    if not files:
        return None
    rows = []
    for file in files:
        for record in read_wandb_records(file):
            if record.WhichOneof("record_type") == "history":
                row = {}
                for item in record.history.item:
                    key = item.key or "/".join(item.nested_key)
                    value = json.loads(item.value_json)
                    if isinstance(value, int | float):
                        row[key] = float(value)
                rows.append(row)
    return rows


def read_wandb_records(path: Path) -> Iterable:
    """The protobuf records of a W&B run file (`run-<id>.wandb`).

    wandb 0.31 no longer ships a Python reader for its own run files, so this reads the format directly:
    a 7-byte header (`:W&B`, magic 0xBEE1, version 0), then LevelDB-log blocks of 32 KiB whose chunks
    (crc32c, length, type: full/first/middle/last) carry serialised `wandb_internal_pb2.Record`s.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise MaeumError(f"{path}: not a W&B run file")
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0 and length == 0:  # zero padding
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # full, or the last piece of a split record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


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


# ------------------------------------------------------------------------------------------------ writing
def table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run, in the original leaderboard's layout, best first."""
    task = runs[0].task
    ranked = sorted(
        runs,
        key=lambda r: (r.best_epoch() is None, _best(r) * (1 if task.mode == "min" else -1)),
    )
    rows = []
    for n, run in enumerate(ranked, 1):
        best = run.best_epoch()
        row = {
            "#": n,
            "backbone": run.backbone,
            "epochs": run.epochs,
            "data": run.data,
        }
        if task is CHATBOT:
            row["label mask"] = run.label_mask
        for metric in task.trajectories:
            row[metric.removesuffix("_epoch")] = " -> ".join(f"{v:.3f}" for v in run.curves.get(metric, []))
        row["best epoch"] = "" if best is None else best + 1
        row[f"best {task.metric}"] = "" if best is None else round(run.curves[task.metric][best], 4)
        for metric in task.tests:
            row[metric] = round(run.final[metric], 4) if metric in run.final else ""
        row["overfitting"] = f"yes (after epoch {best + 1})" if run.overfitting() else ""
        row["run"] = f"{run.path.parent.name}/{run.path.name}"
        rows.append(row)
    return pd.DataFrame(rows)


def _best(run: Run) -> float:
    best = run.best_epoch()
    return run.curves[run.task.metric][best] if best is not None else math.inf


def figure(runs: Sequence[Run]) -> plt.Figure:
    task = runs[0].task
    with matplotlib.rc_context({"font.family": [hangul_font(), "DejaVu Sans"], "axes.unicode_minus": False}):
        fig, ax = plt.subplots(figsize=(8, 5))
        for run in runs:
            values = run.curves.get(task.metric, [])
            label = ", ".join(x for x in (run.label_mask, f"{run.epochs} ep", run.data, run.path.name) if x)
            ax.plot(range(1, len(values) + 1), values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(task.metric)
        if task.mode == "min":
            ax.set_yscale("log")
        ax.set_title(f"{task.metric} per epoch")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def write(runs: Sequence[Run], output: Path) -> dict[str, Path]:
    """`leaderboard.md`, `.csv` and `.png` in `output` (one section per task when runs are mixed)."""
    output.mkdir(parents=True, exist_ok=True)
    sections, frames = [], []
    groups = [[r for r in runs if r.task is task] for task in (CHATBOT, CLASSIFIER)]
    groups = [g for g in groups if g]
    for group in groups:
        frame = table(group)
        frames.append(frame.assign(task=group[0].task.name))
        title = f"## {group[0].task.name} runs\n\n" if len(groups) > 1 else ""
        sections.append(f"{title}{frame.to_markdown(index=False)}\n\n{group[0].task.note}\n")
    paths = {
        "md": output / "leaderboard.md",
        "csv": output / "leaderboard.csv",
        "png": output / "leaderboard.png",
    }
    paths["md"].write_text("\n".join(sections), encoding="utf-8")
    pd.concat(frames, ignore_index=True).to_csv(paths["csv"], index=False)
    fig = figure(groups[0])
    fig.savefig(paths["png"], dpi=120)
    plt.close(fig)
    return paths


def log_to_wandb(paths: dict[str, Path], name: str) -> None:
    """The table and the figure as a W&B run (`job_type=leaderboard`), offline unless credentials exist."""
    import wandb

    run = wandb.init(project="maeum", job_type="leaderboard", name=name, mode=wandb_mode(),
                     dir=str(paths["csv"].parent))  # fmt: skip
    try:
        run.log({
            "leaderboard": wandb.Table(dataframe=pd.read_csv(paths["csv"]).fillna("")),
            "leaderboard_curves": wandb.Image(str(paths["png"])),
        })  # fmt: skip
    finally:
        run.finish()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="maeum-leaderboard", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="run or multirun directories written by maeum-train")
    parser.add_argument("--output", type=Path, default=None, help="where to write (default: the first path)")
    parser.add_argument("--wandb", action="store_true", help="also log the table and figure to W&B")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        runs = [read_run(path) for path in find_runs(args.paths)]
        output = args.output or Path(args.paths[0])
        paths = write(runs, output)
        if args.wandb:
            log_to_wandb(paths, name=f"leaderboard-{output.name}")
    except MaeumError as err:
        parser.exit(1, f"maeum-leaderboard: error: {err}\n")
    print(paths["md"].read_text(encoding="utf-8"))
    log.info("Wrote %s", ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
