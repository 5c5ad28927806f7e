"""`maeum-data-stats` / `python -m maeum.data_stats data=<task>/<name> data.path=FILE`: what a corpus holds.

Reads and splits the corpus exactly as training would (same reader, label rules and split), prints a
summary table, and ends with one JSON line: `rows_read`, `rows_kept`, `dropped` (reason → rows),
`splits` (split → rows) and, for classification, `labels` (label → kept rows); nothing is tokenized.
A dialogue corpus adds `dialogues`, `examples`, `turns` (mean, max), `conditions`, `truncated` and
`target_tokens` per label mask; those are tokenized, with `tiny_gpt2` unless `backbone=` says otherwise.
"""

from __future__ import annotations

import json
import logging

import rich
import rich.table
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, open_dict

from maeum.cli import hydra_main
from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.runtime import extras, save_resolved_config, task_wrapper

log = logging.getLogger(__name__)


@task_wrapper
def data_stats(cfg: DictConfig) -> dict[str, object]:
    """The corpus statistics of `cfg.data`."""
    extras(cfg)
    target = get_object(cfg.data._target_)  # a class (either path: maeum._moved) or a factory
    dialogue = isinstance(target, type) and issubclass(target, DialogueDataModule)
    if dialogue and cfg.backbone.name_or_path == "tiny_bert":
        log.info(
            "Dialogue data: counting tokens with tiny_gpt2 (the KoGPT2 stand-in); backbone= picks another"
        )
        with open_dict(cfg):
            cfg.backbone.name_or_path = "tiny_gpt2"
    save_resolved_config(cfg)
    stats = instantiate(cfg.data).stats()
    table = rich.table.Table(title=f"{cfg.data.path}")
    table.add_column("")
    table.add_column("rows", justify="right")
    for key in ("rows_read", "rows_kept"):
        table.add_row(key, str(stats[key]))
    for key, value in stats.items():
        if isinstance(value, dict):
            for name, count in value.items():
                table.add_row(f"{key}: {name}", str(count))
        elif key not in ("rows_read", "rows_kept"):
            table.add_row(key, str(value))
    rich.print(table)
    print(json.dumps(stats, ensure_ascii=False), flush=True)
    return stats


@hydra_main("data_stats")
def main(cfg: DictConfig) -> None:
    data_stats(cfg)


if __name__ == "__main__":
    main()
