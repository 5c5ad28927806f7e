"""`maeum-leaderboard RUN_DIR_OR_MULTIRUN_DIR...`: one fair table from many training runs.

Every run directory below the given paths (a directory with the `config.yaml` that `maeum-train` saves)
is read; runs that differ only in `seed` form one row (`--per-run`: one row per run). A row holds the
backbone, epochs, data, label mask, `seeds`, the per-epoch means over its seeds of `train/loss`, `val/loss`
and the comparable metric, the best epoch of that mean curve, the mean, std and 95% t interval over seeds
of the best comparable metric and of the test metrics (`maeum.stats.seed_interval`), an overfitting flag
(the last epoch more than 5% worse than the best), and a paired comparison with the best row tested on the
same examples (from each run's `test_predictions.csv`: `pair_rows`). Chatbot runs are ranked by their best
`val/response_ppl`, the one metric that means the same under every label mask (`val/loss` is taken over
each mask's own tokens, so it only compares within one mask); classifier runs by their best
`val/f1_macro`, with `val/acc` alongside.

Metrics come from the run's CSV log (`csv/version_*/metrics.csv`), or else from its W&B files
(`wandb/*run-*/run-*.wandb`, offline or synced). It writes `leaderboard.md`, `leaderboard.csv` and
`leaderboard.png` (the comparable metric per epoch, one line per row with 95% error bars) to `--output`
(default: the first path), prints the markdown, and with `--wandb` logs the table and the figure to a W&B
run (offline unless credentials are set).

    maeum-leaderboard logs/train/multiruns/2026-11-22_10-00-00 [more dirs...] [--output DIR] [--wandb]
        [--per-run]
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
import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import MaxNLocator
from omegaconf import OmegaConf

from maeum.errors import MaeumError
from maeum.reports import TEST_PREDICTIONS, UNKNOWN_ID, hangul_font
from maeum.runtime import wandb_mode
from maeum.stats import Interval, Paired, accuracy_delta, mcnemar_exact, response_nll_delta, seed_interval

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
    paired_delta: str  # the csv column of the paired difference with the best row
    note: str


CHATBOT = Task(
    name="chatbot",
    metric="val/response_ppl",
    mode="min",
    trajectories=("train/loss_epoch", "val/loss", "val/response_ppl"),
    tests=("test/response_ppl", "test/response_acc"),
    paired_delta="paired_delta_nll",
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
    paired_delta="paired_delta_acc",
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
    seed: int | None = None
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


def _best(run: Run) -> float:
    """The run's best comparable metric (`nan` if it logged none)."""
    best = run.best_epoch()
    return run.curves[run.task.metric][best] if best is not None else math.nan


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
        seed=cfg.get("seed"),
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


# ------------------------------------------------------------------------------------------------ seeds
def variant_key(path: Path) -> str:
    """What a run is, but for its seed: Hydra's composed config (`.hydra/config.yaml`, before interpolation,
    so paths that hold the run's directory stay equal) without `seed` and `ckpt_path` (a resumed run is its
    seed's run); for a run without it, the saved resolved config without those, `data.shuffle_seed`,
    `paths` and the run's own directory."""
    raw = path / ".hydra" / "config.yaml"
    resolved = not raw.is_file()
    cfg = OmegaConf.to_container(OmegaConf.load(path / "config.yaml" if resolved else raw), resolve=False)
    for key in ("seed", "ckpt_path"):
        cfg.pop(key, None)
    if not resolved:
        return json.dumps(cfg, sort_keys=True, ensure_ascii=False, default=str)
    own_dir = str((cfg.pop("paths", None) or {}).get("output_dir") or path)
    if isinstance(cfg.get("data"), dict):
        cfg["data"].pop("shuffle_seed", None)
    return json.dumps(cfg, sort_keys=True, ensure_ascii=False, default=str).replace(own_dir, "<run>")


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
            log.warning("%s and %s are one variant with seed %s: keeping %s (tested, more epochs)",
                        _name(kept), _name(run), run.seed, _name(keep))  # fmt: skip
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


def _name(run: Run) -> str:
    return f"{run.path.parent.name}/{run.path.name}"


# ------------------------------------------------------------------------------------------------ pairing
def _predictions_file(run: Run) -> pd.DataFrame | str:
    """A run's `test_predictions.csv` with the columns its task pairs on, checked; or what is wrong with it
    (the reason a row is not paired: unreadable, a column missing, rows with empty or invalid values)."""
    path, columns = run.path / TEST_PREDICTIONS, ("id", *PAIRED_COLUMNS[run.task.name])
    where = f"{TEST_PREDICTIONS} of {_name(run)}"
    if not path.is_file():
        return f"no {TEST_PREDICTIONS} in {_name(run)}"
    try:
        frame = pd.read_csv(path, dtype={"id": str}, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        return f"{where} is not a readable UTF-8 CSV ({type(err).__name__})"
    if missing := [c for c in columns if c not in frame.columns]:
        return f"{where} lacks the column(s) {missing}; re-test the run with maeum-eval"
    if run.task is CHATBOT:
        values = frame[list(columns[1:])].apply(pd.to_numeric, errors="coerce")
        bad = int((~np.isfinite(values.to_numpy(float))).any(axis=1).sum())
        frame[list(columns[1:])] = values
    else:
        frame["correct"] = frame["correct"].astype(str).str.lower().map({"true": 1.0, "false": 0.0})
        bad = int(frame["correct"].isna().sum())
    bad += int(frame["id"].isna().sum())
    if bad:
        return f"{where} has {bad} row(s) with an empty or invalid id or {', '.join(columns[1:])}"
    return frame


PAIRED_COLUMNS = {"chatbot": ("response_nll", "response_tokens"), "classifier": ("correct",)}


def read_predictions(row: Row) -> tuple[tuple, dict[str, np.ndarray]] | str:
    """What the row was tested on (its ids in order; for chatbots also each dialogue's response tokens,
    without which per-token NLLs do not compare) and its per-example values pooled over its seeds
    (chatbots: `nll`, `tokens`; classifiers: `correct`, the share of seeds right); or why there are none."""
    frames = []
    for run in row.runs:
        frame = _predictions_file(run)
        if isinstance(frame, str):
            return frame
        frames.append(frame)
    ids = tuple(frames[0]["id"])
    if any(tuple(f["id"]) != ids for f in frames[1:]):
        return "its seeds were tested on different examples"
    if any(i.endswith(UNKNOWN_ID) for i in ids):
        return f"{TEST_PREDICTIONS} of {_name(row.first)} does not identify its test examples"
    if row.task is CHATBOT:
        tokens = frames[0]["response_tokens"].to_numpy(float)
        if any(not np.array_equal(f["response_tokens"].to_numpy(float), tokens) for f in frames[1:]):
            return "its seeds tokenized the test dialogues differently"
        nll = np.mean([f["response_nll"].to_numpy(float) for f in frames], axis=0)
        return (ids, tuple(tokens)), {"nll": nll, "tokens": tokens}
    return (ids,), {"correct": np.mean([f["correct"].to_numpy(float) for f in frames], axis=0)}


def pair_rows(rows: Sequence[Row]) -> None:
    """Compare every row with the best-ranked row tested on the same examples (same ids in the same order;
    for chatbots also the same response tokens per dialogue, i.e. the same tokenization).

    Chatbots: the mean per-token response NLL difference (`response_nll_delta`); classifiers: the accuracy
    difference (`accuracy_delta`) and McNemar's exact p on each example's majority vote over seeds (an
    example with a tied vote in either row is left out of McNemar's counts). Rows are ranked best first.
    A row tested on other examples or tokens than every better row is the reference of its own test set."""
    references: dict[tuple, tuple[int, dict[str, np.ndarray]]] = {}
    for n, row in enumerate(rows, 1):
        read = read_predictions(row)
        if isinstance(read, str):
            row.pair_note = f"not paired: {read}"
            continue
        key, values = read
        if key not in references:
            row.pair_note = "reference" if not references else "reference (other test examples or tokens)"
            references[key] = (n, values)
            row.paired = Paired(0.0, 0.0, 0.0)
            if row.task is CLASSIFIER:
                row.mcnemar_p = 1.0
            continue
        ref_n, ref = references[key]
        row.pair_note = f"vs #{ref_n}"
        if row.task is CHATBOT:
            row.paired = response_nll_delta(values["nll"], values["tokens"], ref["nll"], ref["tokens"])
        else:
            row.paired = accuracy_delta(values["correct"], ref["correct"])
            decided = (values["correct"] != 0.5) & (ref["correct"] != 0.5)
            row.mcnemar_p = mcnemar_exact(values["correct"][decided] > 0.5, ref["correct"][decided] > 0.5)


# ------------------------------------------------------------------------------------------------ writing
def rank(rows: Sequence[Row]) -> list[Row]:
    """Best first by the mean of each run's best comparable metric; rows without one last."""
    task = rows[0].task
    sign = 1 if task.mode == "min" else -1
    means = {id(r): r.best().mean for r in rows}
    return sorted(rows, key=lambda r: (not math.isfinite(means[id(r)]), sign * means[id(r)]))


def table(rows: Sequence[Row]) -> pd.DataFrame:
    """One row per variant, ranked, with numbers (what `leaderboard.csv` holds)."""
    task = rows[0].task
    records = []
    for n, row in enumerate(rows, 1):
        first, best_epoch = row.first, row.mean.best_epoch()
        record: dict[str, object] = {"#": n, "backbone": first.backbone, "epochs": row.mean.epochs,
                                     "data": first.data}  # fmt: skip
        if task is CHATBOT:
            record["label mask"] = first.label_mask
        record["seeds"] = len(row.runs)
        record["seed values"] = " ".join(str(r.seed) for r in row.runs)
        for metric in task.trajectories:
            record[metric.removesuffix("_epoch")] = " -> ".join(
                f"{v:.3f}" for v in row.curves.get(metric, [])
            )
        record["best epoch"] = "" if best_epoch is None else best_epoch + 1
        record.update(_interval_columns(f"{task.metric}_best", row.best()))
        for metric in task.tests:
            record.update(_interval_columns(metric, row.test(metric)))
        paired = row.paired
        record[task.paired_delta] = paired.delta if paired else math.nan
        record["paired_delta_ci95_low"] = paired.low if paired else math.nan
        record["paired_delta_ci95_high"] = paired.high if paired else math.nan
        if task is CLASSIFIER:
            record["mcnemar_p"] = row.mcnemar_p if row.mcnemar_p is not None else math.nan
        record["significant"] = paired.significant if paired else ""
        record["paired"] = row.pair_note
        record["overfitting"] = f"yes (after epoch {best_epoch + 1})" if row.mean.overfitting() else ""
        record["runs"] = " ".join(_name(r) for r in row.runs)
        records.append(record)
    return pd.DataFrame(records)


def _interval_columns(name: str, interval: Interval) -> dict[str, float]:
    return {f"{name}_mean": interval.mean, f"{name}_std": interval.std,
            f"{name}_ci95_low": interval.low, f"{name}_ci95_high": interval.high}  # fmt: skip


def markdown(frame: pd.DataFrame, task: Task) -> str:
    """The table for reading: `mean ± std [low, high]` per metric and the paired comparison."""
    shown = frame.drop(columns=["seed values"])
    for name in (f"{task.metric}_best", *task.tests):
        columns = [f"{name}_{s}" for s in ("mean", "std", "ci95_low", "ci95_high")]
        title = f"best {task.metric}" if name.endswith("_best") else name
        shown.insert(
            shown.columns.get_loc(columns[0]), title, [_spread(*v) for v in frame[columns].to_numpy()]
        )
        shown = shown.drop(columns=columns)
    delta = task.paired_delta
    columns = [delta, "paired_delta_ci95_low", "paired_delta_ci95_high"]
    label = "Δ NLL/token vs best [95%]" if task is CHATBOT else "Δ acc vs best [95%]"
    shown.insert(shown.columns.get_loc(delta), label, [
        "" if not math.isfinite(d) else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        for d, lo, hi in frame[columns].to_numpy(float)
    ])  # fmt: skip
    shown = shown.drop(columns=columns)
    if "mcnemar_p" in shown:
        shown["mcnemar_p"] = ["" if not math.isfinite(p) else f"{p:.3g}" for p in frame["mcnemar_p"]]
    shown["significant"] = [
        note if note.startswith(("reference", "not paired")) else ("yes" if sig is True else "no")
        for sig, note in zip(frame["significant"], frame["paired"], strict=True)
    ]  # fmt: skip
    shown = shown.drop(columns=["paired"])
    return shown.to_markdown(index=False)


def _spread(mean: float, std: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return ""
    if math.isinf(mean):
        return f"{mean} (a seed diverged)"
    if not math.isfinite(std):
        return f"{mean:.4g} (one seed: no interval)"
    return f"{mean:.4g} ± {std:.2g} [{low:.4g}, {high:.4g}]"


NOTES = (
    "Runs that differ only in `seed` are one row (`seeds`). ± is the sample standard deviation over the "
    "seeds and [low, high] the 95% t interval of their mean. The paired column compares the row with the "
    "best row tested on the same examples (same ids): {what}, seeds pooled per example, with a paired "
    "bootstrap 95% interval over test examples (10,000 resamples, seeded); `significant` is yes when the "
    "interval excludes 0."
)
WHAT = {
    "chatbot": "the difference in mean per-token response NLL on the test dialogues (nats, row minus best: "
    "positive is worse; exp of it is the test perplexity ratio)",
    "classifier": "the test accuracy difference (row minus best), plus McNemar's exact p on each example's "
    "majority vote over seeds",
}


def error_bars(intervals: Sequence[Interval]) -> list[list[float]]:
    """Matplotlib's `yerr`/`xerr` of 95% intervals: the half-widths below and above each mean (0 for one
    seed, which has no interval)."""
    return [[i.mean - i.low if i.n > 1 else 0.0 for i in intervals],
            [i.high - i.mean if i.n > 1 else 0.0 for i in intervals]]  # fmt: skip


def figure(rows: Sequence[Row]) -> plt.Figure:
    """The comparable metric per epoch, one line per row: the mean over its seeds, with 95% error bars."""
    task = rows[0].task
    with matplotlib.rc_context({"font.family": [hangul_font(), "DejaVu Sans"], "axes.unicode_minus": False}):
        fig, ax = plt.subplots(figsize=(8, 5))
        for n, row in enumerate(rows, 1):
            per_epoch = row.epoch_intervals(task.metric)
            means = [i.mean for i in per_epoch]
            seeds = f"{len(row.runs)} seed{'s' if len(row.runs) > 1 else ''}"
            parts = (f"#{n}", row.first.label_mask, f"{len(means)} ep", row.first.data, seeds)
            label = ", ".join(x for x in parts if x)
            epochs = range(1, len(means) + 1)
            ax.errorbar(epochs, means, yerr=error_bars(per_epoch), marker="o", capsize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(task.metric)
        if task.mode == "min":
            ax.set_yscale("log")
        ax.set_title(f"{task.metric} per epoch (mean over seeds, 95% interval)")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def build(runs: Sequence[Run], per_run: bool = False) -> list[list[Row]]:
    """Per task (chatbot, then classifier), the ranked rows with their paired comparisons."""
    sections = []
    for task in (CHATBOT, CLASSIFIER):
        mine = [r for r in runs if r.task is task]
        if mine:
            rows = rank([Row(group) for group in group_runs(mine, per_run)])
            pair_rows(rows)
            sections.append(rows)
    return sections


def write(runs: Sequence[Run], output: Path, per_run: bool = False) -> dict[str, Path]:
    """`leaderboard.md`, `.csv` and `.png` in `output` (one section per task when runs are mixed)."""
    output.mkdir(parents=True, exist_ok=True)
    texts, frames = [], []
    sections = build(runs, per_run)
    for rows in sections:
        task = rows[0].task
        frame = table(rows)
        frames.append(frame.assign(task=task.name))
        title = f"## {task.name} runs\n\n" if len(sections) > 1 else ""
        notes = f"{task.note} {NOTES.format(what=WHAT[task.name])}"
        texts.append(f"{title}{markdown(frame, task)}\n\n{notes}\n")
    paths = {
        "md": output / "leaderboard.md",
        "csv": output / "leaderboard.csv",
        "png": output / "leaderboard.png",
    }
    paths["md"].write_text("\n".join(texts), encoding="utf-8")
    pd.concat(frames, ignore_index=True).to_csv(paths["csv"], index=False)
    fig = figure(sections[0])
    fig.savefig(paths["png"], dpi=120)
    plt.close(fig)
    return paths


def log_to_wandb(paths: dict[str, Path], name: str) -> None:
    """The table and the figure as a W&B run (`job_type=leaderboard`), offline unless credentials exist."""
    import wandb

    frame = pd.read_csv(paths["csv"])
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    frame[text] = frame[text].fillna("")  # numbers keep NaN (no interval for one seed)
    run = wandb.init(project="maeum", job_type="leaderboard", name=name, mode=wandb_mode(),
                     dir=str(paths["csv"].parent))  # fmt: skip
    try:
        run.log({
            "leaderboard": wandb.Table(dataframe=frame),
            "leaderboard_curves": wandb.Image(str(paths["png"])),
        })  # fmt: skip
    finally:
        run.finish()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="maeum-leaderboard", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="run or multirun directories written by maeum-train")
    parser.add_argument("--output", type=Path, default=None, help="where to write (default: the first path)")
    parser.add_argument("--wandb", action="store_true", help="also log the table and figure to W&B")
    parser.add_argument("--per-run", action="store_true", help="one row per run instead of per variant")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        runs = [read_run(path) for path in find_runs(args.paths)]
        output = args.output or Path(args.paths[0])
        paths = write(runs, output, per_run=args.per_run)
        if args.wandb:
            log_to_wandb(paths, name=f"leaderboard-{output.name}")
    except MaeumError as err:
        parser.exit(1, f"maeum-leaderboard: error: {err}\n")
    print(paths["md"].read_text(encoding="utf-8"))
    log.info("Wrote %s", ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
