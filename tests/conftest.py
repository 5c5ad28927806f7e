"""Shared fixtures: an isolated cache, offline W&B, and Hydra configs composed into tmp_path.

Configs are composed the way lightning-hydra-template's tests do it: real `compose()`, with the paths
that Hydra would fill at run time pointed at a temporary directory.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import corpus_fixtures as fx
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import maeum.runtime  # noqa: F401  (registers the ${maeum.*} resolvers)
from maeum.paths import config_dir
from maeum.train import train

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One fresh cache per test session (tiny backbones are built once), and W&B never goes online."""
    saved = {k: os.environ.get(k) for k in ("MAEUM_CACHE_DIR", "WANDB_MODE", "WANDB_SILENT")}
    os.environ["MAEUM_CACHE_DIR"] = str(tmp_path_factory.mktemp("maeum-cache"))
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def compose_config(config_name: str, run_dir: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with its run directory (and logs) under `run_dir`."""
    paths = [f"paths.root_dir={run_dir}", f"paths.log_dir={run_dir}/logs", f"paths.output_dir={run_dir}"]
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose(config_name, overrides=[*paths, "extras.print_config=false", *overrides])


@pytest.fixture
def train_cfg(tmp_path: Path):
    """Factory: `train_cfg(*overrides)` → a composed train config that writes under tmp_path."""
    return lambda *overrides: compose_config("train", tmp_path, overrides)


def trained_epochs(run_dir: Path) -> list[int]:
    """Epochs that logged a training loss, from the run's CSV log."""
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as f:
        return sorted({int(row["epoch"]) for row in csv.DictReader(f) if row.get("train/loss_epoch")})


@pytest.fixture(scope="session")
def main_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """The main job exactly as `python -m maeum.train` runs it (CSV + offline W&B loggers included)."""
    run_dir = tmp_path_factory.mktemp("main-run")
    return run_dir, train(compose_config("train", run_dir))


@pytest.fixture(scope="session")
def chatbot_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`experiment=chatbot/sample_tiny` for 3 epochs (offline W&B): the chatbot the chat tests talk to."""
    run_dir = tmp_path_factory.mktemp("chatbot-run")
    overrides = ["experiment=chatbot/sample_tiny", "trainer.max_epochs=3", "logger=wandb"]
    train(compose_config("train", run_dir, overrides))
    return run_dir


@pytest.fixture(scope="session")
def wellness(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, run dir) of experiment=emotion/wellness_intent_tiny on a wellness-schema fixture with
    a Korean file name: a classifier with a response bank, the retrieval chatbot."""
    run_dir = tmp_path_factory.mktemp("wellness")
    data = fx.wellness_bank_xlsx(run_dir / "웰니스 대화 스크립트 (fixture).xlsx")
    overrides = [
        "experiment=emotion/wellness_intent_tiny",
        f"data.path='{data}'",
        "trainer.max_epochs=8",
        "~logger",
    ]
    train(compose_config("train", run_dir, overrides))
    return best_checkpoint(run_dir), run_dir


def best_checkpoint(run_dir: Path) -> Path:
    """The run's best checkpoint (`checkpoints/epoch_NNN.ckpt`)."""
    (best,) = (run_dir / "checkpoints").glob("epoch_*.ckpt")
    return best
