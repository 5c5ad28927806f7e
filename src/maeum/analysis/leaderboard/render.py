"""The leaderboard itself: runs grouped, ranked and paired per task (`build`), as a table (`table`, what
`leaderboard.csv` holds), as markdown with its notes (`markdown`) and as a figure (`figure`); `write` puts
all three in a directory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import MaxNLocator

from maeum.analysis.leaderboard.grouping import Row, group_runs
from maeum.analysis.leaderboard.pairing import pair_rows
from maeum.analysis.leaderboard.runs import Run
from maeum.analysis.leaderboard.tasks import TASKS, Task
from maeum.analysis.stats import Interval
from maeum.training.reports import hangul_font

NOTES = (
    "Runs that differ only in `seed` are one row (`seeds`). ± is the sample standard deviation over the "
    "seeds and [low, high] the 95% t interval of their mean. The paired column compares the row with the "
    "best row tested on the same examples (same ids): {what}, seeds pooled per example, with a paired "
    "bootstrap 95% interval over test examples (10,000 resamples, seeded); `significant` is yes when the "
    "interval excludes 0."
)


def rank(rows: Sequence[Row]) -> list[Row]:
    """Best first by the mean of each run's best comparable metric; rows without one last."""
    task = rows[0].task
    sign = 1 if task.mode == "min" else -1
    means = {id(r): r.best().mean for r in rows}
    return sorted(rows, key=lambda r: (not math.isfinite(means[id(r)]), sign * means[id(r)]))


def build(runs: Sequence[Run], per_run: bool = False) -> list[list[Row]]:
    """Per task (chatbot, then classifier), the ranked rows with their paired comparisons."""
    sections = []
    for task in TASKS:
        mine = [r for r in runs if r.task is task]
        if mine:
            rows = rank([Row(group) for group in group_runs(mine, per_run)])
            pair_rows(rows)
            sections.append(rows)
    return sections


def table(rows: Sequence[Row]) -> pd.DataFrame:
    """One row per variant, ranked, with numbers (what `leaderboard.csv` holds)."""
    task = rows[0].task
    records = []
    for n, row in enumerate(rows, 1):
        first = row.first
        best_epoch = row.mean.best_epoch()
        record: dict[str, object] = {
            "#": n,
            "backbone": first.backbone,
            "epochs": row.mean.epochs,
            "data": first.data,
        }
        if task.masked:
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
        if task.mcnemar:
            record["mcnemar_p"] = row.mcnemar_p if row.mcnemar_p is not None else math.nan
        record["significant"] = paired.significant if paired else ""
        record["paired"] = row.pair_note
        record["overfitting"] = f"yes (after epoch {best_epoch + 1})" if row.mean.overfitting() else ""
        record["runs"] = " ".join(r.name for r in row.runs)
        records.append(record)
    return pd.DataFrame(records)


def _interval_columns(name: str, interval: Interval) -> dict[str, float]:
    return {
        f"{name}_mean": interval.mean,
        f"{name}_std": interval.std,
        f"{name}_ci95_low": interval.low,
        f"{name}_ci95_high": interval.high,
    }


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
    shown.insert(
        shown.columns.get_loc(delta),
        task.paired_label,
        [
            "" if not math.isfinite(d) else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
            for d, lo, hi in frame[columns].to_numpy(float)
        ],
    )
    shown = shown.drop(columns=columns)
    if "mcnemar_p" in shown:
        shown["mcnemar_p"] = ["" if not math.isfinite(p) else f"{p:.3g}" for p in frame["mcnemar_p"]]
    shown["significant"] = [
        note if note.startswith(("reference", "not paired")) else ("yes" if sig is True else "no")
        for sig, note in zip(frame["significant"], frame["paired"], strict=True)
    ]
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


def error_bars(intervals: Sequence[Interval]) -> list[list[float]]:
    """Matplotlib's `yerr`/`xerr` of 95% intervals: the half-widths below and above each mean (0 for one
    seed, which has no interval)."""
    return [
        [i.mean - i.low if i.n > 1 else 0.0 for i in intervals],
        [i.high - i.mean if i.n > 1 else 0.0 for i in intervals],
    ]


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
        if task.log_scale:
            ax.set_yscale("log")
        ax.set_title(f"{task.metric} per epoch (mean over seeds, 95% interval)")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def write(runs: Sequence[Run], output: Path, per_run: bool = False) -> dict[str, Path]:
    """`leaderboard.md`, `.csv` and `.png` in `output` (one section per task when runs are mixed).

    Args:
        runs: the runs to rank, of either task or both (`read_run`).
        output: the directory to write to (made if missing).
        per_run: one row per run instead of one per variant.

    Returns:
        The written files by kind: `md`, `csv` and `png`.
    """
    output.mkdir(parents=True, exist_ok=True)
    texts = []
    frames = []
    sections = build(runs, per_run)
    for rows in sections:
        task = rows[0].task
        frame = table(rows)
        frames.append(frame.assign(task=task.name))
        title = f"## {task.name} runs\n\n" if len(sections) > 1 else ""
        notes = f"{task.note} {NOTES.format(what=task.what)}"
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
