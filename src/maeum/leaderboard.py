"""`maeum-leaderboard RUN_DIR_OR_MULTIRUN_DIR...`: one fair table from many training runs.

Every run directory below the given paths (a directory with the `config.yaml` that `maeum-train` saves)
is read; runs that differ only in `seed` form one row (`--per-run`: one row per run). A row holds the
backbone, epochs, data, label mask, `seeds`, the per-epoch means over its seeds of `train/loss`, `val/loss`
and the comparable metric, the best epoch of that mean curve, the mean, std and 95% t interval over seeds
of the best comparable metric and of the test metrics (`maeum.analysis.stats.seed_interval`), an
overfitting flag (the last epoch more than 5% worse than the best), and a paired comparison with the best
row tested on the same examples (from each run's `test_predictions.csv`: `pair_rows`). Chatbot runs are
ranked by their best `val/response_ppl`, the one metric that means the same under every label mask
(`val/loss` is taken over each mask's own tokens, so it only compares within one mask); classifier runs by
their best `val/f1_macro`, with `val/acc` alongside.

Metrics come from the run's CSV log (`csv/version_*/metrics.csv`), or else from its W&B files
(`wandb/*run-*/run-*.wandb`, offline or synced). It writes `leaderboard.md`, `leaderboard.csv` and
`leaderboard.png` (the comparable metric per epoch, one line per row with 95% error bars) to `--output`
(default: the first path), prints the markdown, and with `--wandb` logs the table and the figure to a W&B
run (offline unless credentials are set).

    maeum-leaderboard logs/train/multiruns/2026-11-22_10-00-00 [more dirs...] [--output DIR] [--wandb]
        [--per-run]

The leaderboard itself is `maeum.analysis.leaderboard`; this module is its command line and the W&B
upload. Its names stay reachable from here (`from maeum.leaderboard import build`), as before they moved.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from maeum.analysis import leaderboard as board
from maeum.errors import MaeumError
from maeum.runtime import wandb_mode

log = logging.getLogger(__name__)


def log_to_wandb(paths: dict[str, Path], name: str) -> None:
    """The table, the figure and the sample replies as a W&B run (`job_type=leaderboard`), offline unless
    credentials exist."""
    import wandb

    frame = pd.read_csv(paths["csv"])
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    frame[text] = frame[text].fillna("")  # numbers keep NaN (no interval for one seed)
    run = wandb.init(
        project="maeum", job_type="leaderboard", name=name, mode=wandb_mode(), dir=str(paths["csv"].parent)
    )
    logged = {
        "leaderboard": wandb.Table(dataframe=frame),
        "leaderboard_curves": wandb.Image(str(paths["png"])),
    }
    samples = paths.get("samples")
    if samples is not None and samples.is_file() and samples.stat().st_size > 1:
        logged["leaderboard_samples"] = wandb.Table(dataframe=pd.read_csv(samples, keep_default_na=False))
    try:
        run.log(logged)
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
        runs = [board.read_run(path) for path in board.find_runs(args.paths)]
        output = args.output or Path(args.paths[0])
        paths = board.write(runs, output, per_run=args.per_run)
        if args.wandb:
            log_to_wandb(paths, name=f"leaderboard-{output.name}")
    except MaeumError as err:
        parser.exit(1, f"maeum-leaderboard: error: {err}\n")
    print(paths["md"].read_text(encoding="utf-8"))
    log.info("Wrote %s", ", ".join(str(p) for p in paths.values()))


def __getattr__(name: str) -> object:  # PEP 562: the names of maeum.analysis.leaderboard, as before
    return getattr(board, name)


if __name__ == "__main__":
    main()
