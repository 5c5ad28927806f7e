"""One fair table from many training runs: runs that differ only in `seed` are one row, with intervals
across seeds and a paired comparison with the best row tested on the same examples.

- `tasks`: what differs between chatbot and classifier runs (`Task`, `CHATBOT`, `CLASSIFIER`).
- `runs`: finding run directories and reading one (`find_runs`, `read_run`, `Run`).
- `wandb_records`: metrics from a W&B run file, for runs without a CSV log (`read_wandb_records`).
- `grouping`: runs into variants (`variant_key`, `group_runs`, `Row`).
- `pairing`: per-example test predictions and the paired tests (`read_predictions`, `pair_rows`).
- `replies`: each run's `test_generations.csv`, the paired reply metrics and the sample dialogues
  (`read_replies`, `pair_replies`, `sample_ids`).
- `selection`: each run's `test_selection.csv` and McNemar's test on the reply selection hits
  (`read_selection`, `pair_selection`).
- `flags`: the `flags` column and its thresholds (`THRESHOLDS`, `row_flags`).
- `render`: ranked table, markdown, figure and the files (`rank`, `table`, `markdown`, `figure`, `build`,
  `write`).

`maeum.leaderboard` is the command line on top (and the W&B upload).
"""

from maeum.analysis.leaderboard.flags import THRESHOLDS, row_flags
from maeum.analysis.leaderboard.grouping import Row, group_runs, variant_key
from maeum.analysis.leaderboard.pairing import pair_rows, read_predictions
from maeum.analysis.leaderboard.render import (
    NOTES,
    build,
    error_bars,
    figure,
    markdown,
    rank,
    replies_markdown,
    samples,
    samples_markdown,
    table,
    write,
)
from maeum.analysis.leaderboard.replies import pair_replies, read_replies, sample_ids
from maeum.analysis.leaderboard.runs import OVERFIT_TOLERANCE, Run, find_runs, read_run
from maeum.analysis.leaderboard.selection import pair_selection, read_selection
from maeum.analysis.leaderboard.tasks import CHATBOT, CLASSIFIER, TASKS, Task
from maeum.analysis.leaderboard.wandb_records import read_wandb_records

__all__ = [
    "CHATBOT",
    "CLASSIFIER",
    "NOTES",
    "OVERFIT_TOLERANCE",
    "TASKS",
    "THRESHOLDS",
    "Row",
    "Run",
    "Task",
    "build",
    "error_bars",
    "figure",
    "find_runs",
    "group_runs",
    "markdown",
    "pair_replies",
    "pair_rows",
    "pair_selection",
    "rank",
    "read_predictions",
    "read_replies",
    "read_run",
    "read_selection",
    "read_wandb_records",
    "replies_markdown",
    "row_flags",
    "sample_ids",
    "samples",
    "samples_markdown",
    "table",
    "variant_key",
    "write",
]
