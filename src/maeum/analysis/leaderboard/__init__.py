"""One fair table from many training runs: runs that differ only in `seed` are one row, with intervals
across seeds and a paired comparison with the best row tested on the same examples.

- `tasks`: what differs between chatbot and classifier runs (`Task`, `CHATBOT`, `CLASSIFIER`).
- `runs`: finding run directories and reading one (`find_runs`, `read_run`, `Run`).
- `wandb_records`: metrics from a W&B run file, for runs without a CSV log (`read_wandb_records`).
- `grouping`: runs into variants (`variant_key`, `group_runs`, `Row`).
- `pairing`: per-example test predictions and the paired tests (`read_predictions`, `pair_rows`).
- `render`: ranked table, markdown, figure and the files (`rank`, `table`, `markdown`, `figure`, `build`,
  `write`).

`maeum.leaderboard` is the command line on top (and the W&B upload).
"""

from maeum.analysis.leaderboard.grouping import Row, group_runs, variant_key
from maeum.analysis.leaderboard.pairing import pair_rows, read_predictions
from maeum.analysis.leaderboard.render import NOTES, build, error_bars, figure, markdown, rank, table, write
from maeum.analysis.leaderboard.runs import OVERFIT_TOLERANCE, Run, find_runs, read_run
from maeum.analysis.leaderboard.tasks import CHATBOT, CLASSIFIER, TASKS, Task
from maeum.analysis.leaderboard.wandb_records import read_wandb_records

__all__ = [
    "CHATBOT",
    "CLASSIFIER",
    "NOTES",
    "OVERFIT_TOLERANCE",
    "TASKS",
    "Row",
    "Run",
    "Task",
    "build",
    "error_bars",
    "figure",
    "find_runs",
    "group_runs",
    "markdown",
    "pair_rows",
    "rank",
    "read_predictions",
    "read_run",
    "read_wandb_records",
    "table",
    "variant_key",
    "write",
]
