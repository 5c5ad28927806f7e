"""`maeum-data-stats` / `python -m maeum.data_stats data=classify/<name> data.path=FILE`: what a corpus holds.

Reads and splits the corpus exactly as training would (same reader, label rules and split), prints a
summary table, and ends with one JSON line: `rows_read`, `rows_kept`, `dropped` (reason → rows),
`labels` (label → kept rows) and `splits` (split → rows). Nothing is tokenized or trained.
"""

from __future__ import annotations

import json

import hydra
import rich
import rich.table
from hydra.utils import instantiate
from omegaconf import DictConfig

from maeum.paths import config_dir
from maeum.runtime import extras, save_resolved_config, task_wrapper


@task_wrapper
def data_stats(cfg: DictConfig) -> dict[str, object]:
    """The corpus statistics of `cfg.data`."""
    extras(cfg)
    save_resolved_config(cfg)
    stats = instantiate(cfg.data).corpus.stats()
    table = rich.table.Table(title=f"{cfg.data.path}")
    table.add_column("")
    table.add_column("rows", justify="right")
    for key in ("rows_read", "rows_kept"):
        table.add_row(key, str(stats[key]))
    for group in ("dropped", "splits", "labels"):
        for name, count in stats[group].items():
            table.add_row(f"{group}: {name}", str(count))
    rich.print(table)
    print(json.dumps(stats, ensure_ascii=False), flush=True)
    return stats


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="data_stats")
def main(cfg: DictConfig) -> None:
    data_stats(cfg)


if __name__ == "__main__":
    main()
