"""Fixtures only: an isolated cache, offline W&B, composed configs, and the session's trained runs.

What the tests share besides fixtures is in `tests/helpers/` (`from helpers.configs import compose_config`);
no test imports from this file. Every test is marked `unit` or `e2e` (see `pytest_collection_modifyitems`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import corpora, entry_points, legacy, slurm
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
from helpers.runs import best_checkpoint, epoch_metrics, multirun_subprocess, train_subprocess

KINDS = ("unit", "e2e")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects: every collected test is checked
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every collected test says what kind it is, by a module's `pytestmark` or its own mark: exactly one
    of `unit` (fast, trains nothing, uses no fixture that trains) and `e2e` (trains, evaluates or serves a
    model). Every `slow` test is also `e2e`. A file that mixes kinds marks each test, not the module.

    The unit tests run first (each kind in the order collected), while the session's runs train beside
    them."""
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
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)  # stable: unit, then e2e


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which entry points ran as fresh interpreters (`helpers.entry_points`), and why."""
    if entry_points.fresh:
        terminalreporter.section("entry points run as fresh interpreters")
        for target, changed in entry_points.fresh:
            terminalreporter.line(f"{target}: its environment differs in {', '.join(changed)}")


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
    entry_points.start_server()  # imports in the background, in this environment
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


# ------------------------------------------------------------------------------ the session's trained runs
# Each is a `maeum-train` process of its own (`helpers.entry_points`), started in the background when the
# session starts (if a selected test uses it), one at a time, in this order: they train while the unit
# tests, which run first, keep the other core busy. Run -> the fixture that starts it.
SESSION_RUNS = {
    "main_run": "main_run_future",
    "chatbot_run": "chatbot_run_future",
    "lora_chatbot_run": "lora_chatbot_run_future",
    "wellness": "wellness_future",
    "ddp_sim_run": "ddp_sim_run",
    "trained_grid": "trained_grid",
    "uninterrupted_chatbot": "uninterrupted_chatbot",
}
TRAINING_FIXTURES = {*SESSION_RUNS, *SESSION_RUNS.values(), "legacy_run"}


@pytest.fixture(scope="session")
def session_pool() -> Iterator[ThreadPoolExecutor]:
    """The session's runs, one at a time, beside the tests."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


@pytest.fixture(scope="session")
def main_run_future(
    session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Future[Path]:
    return session_pool.submit(train_subprocess, tmp_path_factory.mktemp("main-run"), logger=None)


@pytest.fixture(scope="session")
def main_run(main_run_future: Future[Path]) -> tuple[Path, dict[str, float]]:
    """The main job exactly as `python -m maeum.train` runs it (CSV + offline W&B loggers included), and
    its test metrics (from its CSV log)."""
    run_dir = main_run_future.result()
    return run_dir, {name: values[-1] for name, values in epoch_metrics(run_dir).items() if -1 in values}


@pytest.fixture(scope="session")
def chatbot_run_future(session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory) -> Future:
    overrides = ("experiment=chatbot/sample_tiny", "trainer.max_epochs=3")
    return session_pool.submit(train_subprocess, tmp_path_factory.mktemp("chatbot-run"), *overrides,
                               logger="wandb")  # fmt: skip


@pytest.fixture(scope="session")
def chatbot_run(chatbot_run_future: Future[Path]) -> Path:
    """`experiment=chatbot/sample_tiny` for 3 epochs (offline W&B): the chatbot the chat tests talk to."""
    return chatbot_run_future.result()


@pytest.fixture(scope="session")
def lora_chatbot_run_future(
    session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Future[Path]:
    overrides = (*LORA_CHATBOT, "trainer.max_epochs=3")
    return session_pool.submit(train_subprocess, tmp_path_factory.mktemp("lora-chatbot-run"), *overrides)


@pytest.fixture(scope="session")
def lora_chatbot_run(lora_chatbot_run_future: Future[Path]) -> Path:
    """`experiment=chatbot/sample_tiny` on tiny_llama3 in its chat template, with LoRA, for 3 epochs: the
    chat-template chatbot (the demo's, and the LoRA export tests')."""
    return lora_chatbot_run_future.result()


@pytest.fixture(scope="session")
def wellness_future(
    session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Future[Path]:
    run_dir = tmp_path_factory.mktemp("wellness")
    data = corpora.wellness_bank_xlsx(run_dir / "웰니스 대화 스크립트 (fixture).xlsx")
    overrides = ("experiment=emotion/wellness_intent_tiny", f"data.path='{data}'", "trainer.max_epochs=8",
                 "~logger")  # fmt: skip
    return session_pool.submit(train_subprocess, run_dir, *overrides, logger=None)


@pytest.fixture(scope="session")
def wellness(wellness_future: Future[Path]) -> tuple[Path, Path]:
    """(checkpoint, run dir) of experiment=emotion/wellness_intent_tiny on a wellness-schema fixture with
    a Korean file name: a classifier with a response bank, the retrieval chatbot."""
    run_dir = wellness_future.result()
    return best_checkpoint(run_dir), run_dir


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
def trained_grid(
    main_run_future: Future[Path], session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Future[tuple[Path, tuple[str, ...]]]:
    """`GRID` (tests/test_leaderboard.py's one real grid: 2 masks x 2 seeds, replies judged by the main
    job's classifier) as a Hydra multirun: (the sweep directory, the job overrides)."""
    grid = tmp_path_factory.mktemp("grid") / "학습된 격자 (2x2)"

    def train_grid() -> tuple[Path, tuple[str, ...]]:
        job = (*GRID_JOB, f"emotion_classifier={quoted(best_checkpoint(main_run_future.result()))}")
        multirun_subprocess(grid, *GRID, *job)
        return grid, job

    return session_pool.submit(train_grid)


@pytest.fixture(scope="session")
def legacy_run(
    session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Future[dict | None]]:
    """`legacy_run(commit)`: `helpers.legacy.legacy_runs` of an earlier commit, started once, in the pool
    (tests/test_legacy_checkpoints.py's; the selected commits' start with the session)."""
    started: dict[str, Future[dict | None]] = {}

    def start(commit: str) -> Future[dict | None]:
        if commit not in started:
            root = tmp_path_factory.mktemp(f"legacy-{commit[:7]}")
            started[commit] = session_pool.submit(legacy.legacy_runs, root, commit)
        return started[commit]

    return start


@pytest.fixture(scope="session", autouse=True)
def _session_runs_in_the_background(_isolated_env: None, request: pytest.FixtureRequest) -> None:
    """Start the session's runs that the selected tests use, in `SESSION_RUNS`' order, the earlier commits'
    runs of the selected legacy tests, then the SLURM runs when a SLURM test is selected."""
    used = set().union(*(getattr(item, "fixturenames", ()) for item in request.session.items))
    for name, start in SESSION_RUNS.items():
        if name in used:
            request.getfixturevalue(start)
    commits = {item.callspec.params["legacy"] for item in request.session.items
               if "legacy" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")}  # fmt: skip
    for commit in sorted(commits):
        request.getfixturevalue("legacy_run")(commit)
    if "slurm_runs" in used:
        with contextlib.suppress(pytest.skip.Exception, pytest.fail.Exception):  # the SLURM tests say why
            request.getfixturevalue("slurm_runs")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real single-node SLURM cluster (`scripts/local_slurm.py`) for the session: `SLURM_CONF` points at
    its config, requeued jobs start again at once. Skips with the reason where it cannot start (not root,
    no slurm-wlm); with `MAEUM_REQUIRE_SLURM` set (CI), fails instead."""
    folder = tmp_path_factory.mktemp("슬럼 클러스터 (slurm)")  # its config quotes every path
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
def slurm_runs(
    slurm_cluster: Path, session_pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[slurm.Runs]:
    """Every run of `tests/test_slurm.py`, started in the background (`_session_runs_in_the_background`):
    the time-limit chain at once (it mostly waits for SLURM's 30-second time-limit checks), the others
    when the session's runs queued before them are done. The tests wait for their own."""
    runs = slurm.Runs(tmp_path_factory.mktemp("slurm-runs"), after=session_pool.submit(lambda: None))
    yield runs
    runs.stop()
