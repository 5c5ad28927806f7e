"""The repository, the shared corpora beside it, and Hydra configs composed into a temporary directory.

Configs are composed the way lightning-hydra-template's tests do it: real `compose()`, with the paths
that Hydra would fill at run time pointed at a temporary directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import maeum.runtime  # noqa: F401  (registers the ${maeum.*} resolvers)
from maeum.paths import config_dir

REPO = Path(__file__).resolve().parents[2]
# the real corpora (not redistributable) beside the repository; tests that need them skip without them
SHARED_DATA = REPO.parent / "shared" / "data"
CONF = config_dir()


def run_paths(run_dir: Path) -> list[str]:
    """The overrides that put a run's directory, logs and `paths.data_dir` where the tests want them."""
    return [
        f"paths.root_dir={run_dir}",
        f"paths.log_dir={run_dir}/logs",
        f"paths.output_dir={run_dir}",
        f"paths.data_dir={SHARED_DATA}",
    ]


def compose_config(
    config_name: str, run_dir: Path, overrides: Sequence[str] = (), *, return_hydra_config: bool = False
) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with its run directory (and logs) under `run_dir` and
    `paths.data_dir` at the shared corpora (`SHARED_DATA`); `overrides` come last and win."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(
            config_name,
            overrides=[*run_paths(run_dir), "extras.print_config=false", *overrides],
            return_hydra_config=return_hydra_config,
        )


# the chat-template chatbot: tiny_llama3 (Llama 3's chat layout, no download) with LoRA on the bundled sample
LORA_CHATBOT = (
    "experiment=chatbot/sample_tiny",
    "backbone=tiny_llama3",
    "data/template=chat_template",
    "model/peft=lora",
    "model.peft.r=16",
    "model.optimizer.lr=5e-3",
    "data.max_length=128",
)

# no dropout anywhere: two processes draw other dropout masks than one process does for the same rows
NO_DROPOUT = (
    "model.dropout=0",
    "model.backbone_config={hidden_dropout_prob:0.0,attention_probs_dropout_prob:0.0}",
)
# the classifier as two DDP processes of batch 8: `trainer=ddp_sim` and, through SLURM, two SLURM tasks
DDP_SIM = ("trainer=ddp_sim", "data.batch_size=8", "trainer.max_epochs=3",
           "callbacks.early_stopping.patience=100", *NO_DROPOUT)  # fmt: skip
# the sample chatbot of tests/test_resume.py and tests/test_slurm.py: early stopping (patience 1, on the
# wrong-way monitor) stops it after its second epoch, 12 steps; `last.ckpt` after every step
RESUMABLE_CHATBOT = (
    "experiment=chatbot/sample_tiny",
    "trainer.max_epochs=3",
    "monitor.mode=max",
    "callbacks.early_stopping.patience=1",
    "callbacks.last_checkpoint.every_n_train_steps=1",
)
# tests/test_leaderboard.py's one real grid: 2 label masks x 2 seeds of the sample chatbot, 2 epochs of 2
# batches (and, per run, the judge: `emotion_classifier=`)
GRID_MASKS = ("input", "last_sys")
GRID_SEEDS = (1, 2)
GRID = ("experiment=chatbot/sample_tiny", f"data.label_mask={','.join(GRID_MASKS)}",
        f"seed={','.join(map(str, GRID_SEEDS))}")  # fmt: skip
GRID_JOB = ("trainer.max_epochs=2", "+trainer.limit_train_batches=2", "callbacks.early_stopping=null",
            "logger=default")  # fmt: skip
