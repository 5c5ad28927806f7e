"""The leaderboard itself: runs grouped, ranked and paired per task (`build`), as a table (`table`, what
`leaderboard.csv` holds), as markdown with its notes (`markdown`) and as a figure (`figure`); `write` puts
all three in a directory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import MaxNLocator

from maeum.analysis.leaderboard.flags import THRESHOLDS, row_flags
from maeum.analysis.leaderboard.grouping import Row, group_runs
from maeum.analysis.leaderboard.pairing import pair_rows
from maeum.analysis.leaderboard.replies import PAIRED, Said, pair_replies, sample_ids
from maeum.analysis.leaderboard.runs import Run
from maeum.analysis.leaderboard.selection import pair_selection
from maeum.analysis.leaderboard.tasks import TASKS, Task
from maeum.analysis.stats import Interval
from maeum.metrics.plots import korean

NOTES = (
    "Runs that differ only in `seed` are one row (`seeds`). ± is the sample standard deviation over the "
    "seeds and [low, high] the 95% t interval of their mean. The paired column compares the row with the "
    "best row tested on the same examples (same ids): {what}, seeds pooled per example, with a paired "
    "bootstrap 95% interval over test examples (10,000 resamples, seeded); `significant` is yes when the "
    "interval excludes 0."
)


SAMPLE_TURNS = 3  # turns of a sample dialogue's history that leaderboard.md shows
REPLY_NOTES = (
    "The reply metrics are each run's test/gen/* (one reply per test dialogue under the run's evaluation "
    "preset; see docs/compare.md), "
    "mean ± std [95% t interval] over the seeds. The Δ columns compare a row with its reference on the same "
    "dialogues under the same evaluation preset: each metric is recomputed on every one of 1,000 paired "
    "resamples of the dialogues (seeds pooled per dialogue), row minus reference. `flags`: "
    + ", ".join(f"{text.split(' {')[0]} at {threshold:.0%} or more of {metric}" for metric, threshold, text
                in THRESHOLDS)
    + "; overfitting: the last epoch more than 5% worse than the best."
)  # fmt: skip


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
            pair_replies(rows)
            pair_selection(rows)
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
        if task.selection:
            record["select_mcnemar_p"] = row.selection_p if row.selection_p is not None else math.nan
            record["select paired"] = row.selection_note
        record["overfitting"] = f"yes (after epoch {best_epoch + 1})" if row.mean.overfitting() else ""
        record["flags"] = row_flags(row)
        for metric in task.generated:
            record.update(_interval_columns(metric, row.test(metric)))
        if task.generated:
            for metric, _ in PAIRED:
                replies = row.replies_paired.get(metric)
                record[f"paired_{metric}"] = replies.delta if replies else math.nan
                record[f"paired_{metric}_ci95_low"] = replies.low if replies else math.nan
                record[f"paired_{metric}_ci95_high"] = replies.high if replies else math.nan
            record["replies paired"] = row.replies_note
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
    """The table for reading: `mean ± std [low, high]` per metric, the paired comparison and the flags;
    for chatbots, then what the replies say (`replies_markdown`)."""
    generated = [c for c in frame.columns if c.startswith(("test/gen/", "paired_")) and c not in
                 (task.paired_delta, "paired_delta_ci95_low", "paired_delta_ci95_high")]  # fmt: skip
    shown = frame.drop(columns=["seed values", "overfitting", *generated, "replies paired"], errors="ignore")
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
    for column in ("mcnemar_p", "select_mcnemar_p"):
        if column in shown:
            shown[column] = ["" if not math.isfinite(p) else f"{p:.3g}" for p in frame[column]]
    shown["significant"] = [
        note if note.startswith(("reference", "not paired")) else ("yes" if sig is True else "no")
        for sig, note in zip(frame["significant"], frame["paired"], strict=True)
    ]
    shown = shown.drop(columns=["paired"])
    table = shown.to_markdown(index=False)
    return f"{table}\n\n{replies_markdown(frame, task)}" if _has_replies(frame, task) else table


def _has_replies(frame: pd.DataFrame, task: Task) -> bool:
    return bool(task.generated) and any(frame[f"{m}_mean"].notna().any() for m in task.generated)


def replies_markdown(frame: pd.DataFrame, task: Task) -> str:
    """What the replies say, per row: each test-time metric over the seeds, and the paired differences
    of chrF, distinct-2, the empty rate and the emotion agreement from the row's reference."""
    shown = frame[["#", "epochs", *(["label mask"] if task.masked else []), "seeds"]].copy()
    for metric in task.generated:
        columns = [f"{metric}_{s}" for s in ("mean", "std", "ci95_low", "ci95_high")]
        if frame[columns[0]].notna().any():
            shown[metric.removeprefix("test/gen/")] = [_spread(*v) for v in frame[columns].to_numpy(float)]
    for metric, label in PAIRED:
        columns = [f"paired_{metric}", f"paired_{metric}_ci95_low", f"paired_{metric}_ci95_high"]
        if frame[columns[0]].notna().any():
            shown[f"{label} [95%]"] = [  # 3 significant digits: distinct-n differences can be 1e-3
                "" if not math.isfinite(d) else f"{d:+.3g} [{lo:+.3g}, {hi:+.3g}]"
                for d, lo, hi in frame[columns].to_numpy(float)
            ]
    shown["paired"] = frame["replies paired"]
    title = "**What the replies say** (test/gen/*, one reply per test dialogue)"
    return f"{title}\n\n{shown.to_markdown(index=False)}"


def samples(rows: Sequence[Row]) -> pd.DataFrame:
    """The replies of every row to `SAMPLES` test dialogues fixed by id (`sample_ids`), one line per
    dialogue and row: the dialogue's history and reference, and the row's first seed's reply."""
    said = [(n, row.said) for n, row in enumerate(rows, 1) if isinstance(row.said, Said)]
    if not said:
        return pd.DataFrame()
    first = said[0][1].frames[0].set_index("id")
    records = []
    for dialogue in sample_ids(list(first.index)):
        for n, replies in said:
            frame = replies.frames[0].set_index("id")
            records.append(
                {
                    "id": dialogue,
                    "history": first.at[dialogue, "history"] if "history" in first else "",
                    "reference": first.at[dialogue, "reference"],
                    "#": n,
                    "backbone": rows[n - 1].first.backbone,
                    "epochs": rows[n - 1].mean.epochs,
                    "label mask": rows[n - 1].first.label_mask,
                    "seed": rows[n - 1].first.seed,
                    "reply": frame.at[dialogue, "reply"] if dialogue in frame.index else "(not generated)",
                }
            )
    return pd.DataFrame(records)


def samples_markdown(table: pd.DataFrame) -> str:
    """The sample replies for reading: per dialogue its last turns (`SAMPLE_TURNS`; the CSV has all of
    them) and reference, then each row's reply (and its backbone and epochs where the rows differ in them)."""
    parts = ["**Sample replies** (the same test dialogues for every row, chosen by id; its first seed's)"]
    varying = [c for c in ("backbone", "epochs") if c in table and table[c].nunique() > 1]
    for dialogue, group in table.groupby("id", sort=False):
        turns = str(group["history"].iloc[0]).split(" / ")
        history = " / ".join(["…", *turns[-SAMPLE_TURNS:]] if len(turns) > SAMPLE_TURNS else turns)
        parts.append(f"`{dialogue}` {history}\n\nreference: {group['reference'].iloc[0]}")
        replies = group[["#", *varying, "label mask", "seed", "reply"]].replace({"reply": {"": "(empty)"}})
        replies["reply"] = replies["reply"].astype(str).str.replace("|", "\\|")  # a pipe would end the cell
        parts.append(replies.to_markdown(index=False))
    return "\n\n".join(parts)


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
    with korean():
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
    sampled = []
    for rows in sections:
        task = rows[0].task
        frame = table(rows)
        frames.append(frame.assign(task=task.name))
        title = f"## {task.name} runs\n\n" if len(sections) > 1 else ""
        notes = f"{task.note} {NOTES.format(what=task.what)}"
        if _has_replies(frame, task):
            notes += f" {REPLY_NOTES}"
        sample = samples(rows)
        tail = f"\n\n{samples_markdown(sample)}" if len(sample) else ""
        sampled.append(sample)
        texts.append(f"{title}{markdown(frame, task)}\n\n{notes}{tail}\n")
    paths = {
        "md": output / "leaderboard.md",
        "csv": output / "leaderboard.csv",
        "png": output / "leaderboard.png",
        "samples": output / "leaderboard_samples.csv",
    }
    pd.concat(sampled, ignore_index=True).to_csv(paths["samples"], index=False, encoding="utf-8")
    paths["md"].write_text("\n".join(texts), encoding="utf-8")
    pd.concat(frames, ignore_index=True).to_csv(paths["csv"], index=False)
    fig = figure(sections[0])
    fig.savefig(paths["png"], dpi=120)
    plt.close(fig)
    return paths
