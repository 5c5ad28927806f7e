"""Fixtures only: an isolated cache, offline W&B, composed configs, and the session's trained runs.

What the tests share besides fixtures is in `tests/helpers/` (`from helpers.configs import compose_config`);
no test imports from this file. Every test is marked `unit` or `e2e` (see `pytest_collection_modifyitems`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import corpora, slurm
from helpers.configs import (
    DDP_SIM,
    GRID,
    GRID_JOB,
    LORA_CHATBOT,
    RESUMABLE_CHATBOT,
    SHARED_DATA,
    compose_config,
)
from helpers.run_dirs import quoted
from helpers.runs import best_checkpoint, multirun_subprocess, train_subprocess

from maeum.train import train

KINDS = ("unit", "e2e")
TRAINING_FIXTURES = {
    "main_run",
    "trained_grid",
    "chatbot_run",
    "lora_chatbot_run",
    "wellness",
}  # the session's trained runs (below)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: every collected test is checked
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every collected test says what kind it is, by a module's `pytestmark` or its own mark: exactly one
    of `unit` (fast, trains nothing, uses no fixture that trains) and `e2e` (trains, evaluates or serves a
    model). Every `slow` test is also `e2e`. A file that mixes kinds marks each test, not the module."""
    wrong = []
    for item in items:
        kinds = [kind for kind in KINDS if item.get_closest_marker(kind)]
        if len(kinds) != 1:
            wrong.append(f"{item.nodeid}: marked {' and '.join(kinds) or 'neither unit nor e2e'}")
        elif item.get_closest_marker("slow") and kinds != ["e2e"]:
            wrong.append(f"{item.nodeid}: slow, so e2e, but marked {kinds[0]}")
        elif kinds == ["unit"] and (
            trains := TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        ):
            wrong.append(f"{item.nodeid}: marked unit but uses {', '.join(sorted(trains))}, which train")
    if wrong:
        raise pytest.UsageError(
            "every test is marked exactly one of unit or e2e (`pytestmark = pytest.mark.unit` for a whole "
            "module, `@pytest.mark.e2e` for one test):\n  " + "\n  ".join(wrong)
        )


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One fresh cache per test session (tiny backbones are built once), W&B never goes online, the real
    chat tokenizers beside the repository (when there) are where the Qwen twins look for them, and torch
    runs one thread per process: many tests run two or more training processes side by side on the two
    cores, and tiny models gain nothing from a second thread (measured: tests/test_resume.py, 76 s with
    torch's default of a thread per core, 56 s with one)."""
    import torch

    keys = ("MAEUM_CACHE_DIR", "WANDB_MODE", "WANDB_SILENT", "MAEUM_CHAT_TOKENIZERS", "OMP_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    threads = torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = "1"  # the processes the tests start
    torch.set_num_threads(1)  # this one
    os.environ["MAEUM_CACHE_DIR"] = str(tmp_path_factory.mktemp("maeum-cache"))
    if (SHARED_DATA / "chat-tokenizers").is_dir():
        os.environ["MAEUM_CHAT_TOKENIZERS"] = str(SHARED_DATA / "chat-tokenizers")
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    yield
    torch.set_num_threads(threads)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def train_cfg(tmp_path: Path):
    """Factory: `train_cfg(*overrides)` → a composed train config that writes under tmp_path."""
    return lambda *overrides: compose_config("train", tmp_path, overrides)


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
def lora_chatbot_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`experiment=chatbot/sample_tiny` on tiny_llama3 in its chat template, with LoRA, for 3 epochs: the
    chat-template chatbot (the demo's, and the LoRA export tests')."""
    run_dir = tmp_path_factory.mktemp("lora-chatbot-run")
    train(compose_config("train", run_dir, [*LORA_CHATBOT, "trainer.max_epochs=3", "logger=csv"]))
    return run_dir


@pytest.fixture(scope="session")
def wellness(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, run dir) of experiment=emotion/wellness_intent_tiny on a wellness-schema fixture with
    a Korean file name: a classifier with a response bank, the retrieval chatbot."""
    run_dir = tmp_path_factory.mktemp("wellness")
    data = corpora.wellness_bank_xlsx(run_dir / "웰니스 대화 스크립트 (fixture).xlsx")
    overrides = [
        "experiment=emotion/wellness_intent_tiny",
        f"data.path='{data}'",
        "trainer.max_epochs=8",
        "~logger",
    ]
    train(compose_config("train", run_dir, overrides))
    return best_checkpoint(run_dir), run_dir


@pytest.fixture(scope="session")
def session_pool() -> Iterator[ThreadPoolExecutor]:
    """Runs that several modules compare against, started when first asked for and run beside the tests."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


@pytest.fixture(scope="session")
def ddp_sim_run(session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory) -> Future[Path]:
    """`trainer=ddp_sim` on the classifier (`DDP_SIM`): what one process and two SLURM tasks must match."""
    return session_pool.submit(train_subprocess, tmp_path_factory.mktemp("ddp-sim"), *DDP_SIM)


@pytest.fixture(scope="session")
def uninterrupted_chatbot(
    session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Future[Path]:
    """`RESUMABLE_CHATBOT` never stopped: what every resumed, killed or requeued chatbot must end as."""
    return session_pool.submit(train_subprocess, tmp_path_factory.mktemp("whole-chatbot"), *RESUMABLE_CHATBOT)


@pytest.fixture(scope="session")
def trained_grid(main_run, session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory):
    """`GRID` (tests/test_leaderboard.py's one real grid: 2 masks x 2 seeds, replies judged by the main
    job's classifier) as a Hydra multirun in a subprocess: (the sweep directory, the job overrides)."""
    grid = tmp_path_factory.mktemp("grid") / "학습된 격자 (2x2)"
    job = (*GRID_JOB, f"emotion_classifier={quoted(best_checkpoint(main_run[0]))}")

    def train_grid() -> tuple[Path, tuple[str, ...]]:
        return multirun_subprocess(grid, *GRID, *job), job

    return session_pool.submit(train_grid)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real single-node SLURM cluster (`scripts/local_slurm.py`) for the session: `SLURM_CONF` points at
    its config, requeued jobs start again at once. Skips with the reason where it cannot start (not root,
    no slurm-wlm); with `MAEUM_REQUIRE_SLURM` set (CI), fails instead."""
    folder = tmp_path_factory.mktemp("slurm")
    running = slurm.cluster(folder)
    try:
        conf = running.__enter__()
    except slurm.local_slurm.ClusterUnavailableError as error:
        if os.environ.get(slurm.REQUIRED):
            pytest.fail(f"SLURM must start here ({slurm.REQUIRED} is set): {error}")
        pytest.skip(f"no SLURM cluster: {error}")
    yield conf
    running.__exit__(None, None, None)


@pytest.fixture(scope="session")
def slurm_runs(slurm_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[slurm.Runs]:
    """Every run of `tests/test_slurm.py`, started in the background (`_slurm_in_the_background`): they
    mostly wait (for SLURM's 30-second time-limit checks, for a core). The tests wait for their own."""
    runs = slurm.Runs(tmp_path_factory.mktemp("slurm-runs"))
    yield runs
    runs.stop()


SLURM_FROM = "test_configs.py"  # the first module after the CLI tests, whose processes fill both cores
_slurm_started: list[bool] = []
_grid_started: list[bool] = []
GRID_FROM = "test_dialogue.py"  # after the SLURM runs' start: modules of light, in-process tests


@pytest.fixture(autouse=True)
def _slurm_in_the_background(request: pytest.FixtureRequest) -> None:
    """Start the SLURM runs and their references, when a SLURM test is selected, in the background from
    the first test of `SLURM_FROM` on (or the first test after it): most of the suite leaves the second
    core idle, the first modules do not."""
    if _slurm_started or request.node.path.name < SLURM_FROM:
        return
    _slurm_started.append(True)
    if not any(item.get_closest_marker("slurm") for item in request.session.items):
        return
    with contextlib.suppress(pytest.skip.Exception, pytest.fail.Exception):  # the SLURM tests say why
        request.getfixturevalue("slurm_runs")
    request.getfixturevalue("ddp_sim_run")  # the references of the SLURM runs, beside them
    request.getfixturevalue("uninterrupted_chatbot")


@pytest.fixture(autouse=True)
def _grid_in_the_background(request: pytest.FixtureRequest) -> None:
    """Train the leaderboard's grid in the background from `GRID_FROM` on, when its test is selected."""
    if _grid_started or request.node.path.name < GRID_FROM:
        return
    _grid_started.append(True)
    if any("trained_grid" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("trained_grid")
