"""Kill-safe resume, with training processes of their own (`helpers.entry_points`) and SIGKILL: a run
killed at any point and resumed from `last.ckpt` ends bit for bit as the run that was never stopped (weights,
test metrics, `test_predictions.csv` and the best checkpoint's epoch).

The kill points are chosen by `helpers.resume.KillAt` (a callback that kills in a given hook at a given
step) and `helpers.resume.DiesWhileWriting` (a checkpoint IO that dies half-way through a write), never by a
timer. By default a chatbot killed mid-epoch resumes into another directory, and the classifier from an
epoch's end (tests/test_slurm.py resumes requeued jobs in their own directories); `pytest -m slow` kills the
chatbot and the classifier at every boundary, and sweeps every training step.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from helpers import entry_points
from helpers.configs import LORA_CHATBOT, REPO, RESUMABLE_CHATBOT

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
CHECKPOINTING = ["callbacks.last_checkpoint.every_n_train_steps=1", "logger=csv", "extras.print_config=false"]


@dataclass(frozen=True)
class Run:
    """A short run, its length, and how many epochs it trains before it stops."""

    name: str
    overrides: tuple[str, ...]
    steps_per_epoch: int
    epochs: int

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs


RUNS = {
    # 54 sample dialogues, 6 steps per epoch. Following `val/response_ppl` the wrong way round (mode=max),
    # early stopping (patience 1) stops it after its second epoch and its best checkpoint is its first
    # epoch, deterministically: a resume must restore both callbacks' states.
    # (`helpers.configs.RESUMABLE_CHATBOT`, whose `last.ckpt` after every step is `CHECKPOINTING`'s here)
    "chatbot": Run(
        "chatbot",
        tuple(o for o in RESUMABLE_CHATBOT if not o.startswith("callbacks.last_checkpoint.")),
        steps_per_epoch=6,
        epochs=2,
    ),
    # the emotion classifier on its own monitor (val/f1_macro): 168 sample sentences, 11 steps per epoch,
    # without a schedule (Lightning then builds the train loader after the restore: the other code path)
    "classifier": Run(
        "classifier",
        ("trainer.max_epochs=3", "model.scheduler=null", "callbacks.early_stopping.patience=100"),
        steps_per_epoch=11,
        epochs=3,
    ),
}


# LoRA on tiny_llama3 in its chat template: 6 steps per epoch, 2 epochs, killed in the middle of the first
LORA = Run(
    "lora",
    (*LORA_CHATBOT, "trainer.max_epochs=2", "callbacks.early_stopping=null"),
    steps_per_epoch=6,
    epochs=2,
)


# DPO on the sample's emotion-contrastive pairs: 24 pairs, 3 steps per epoch, 2 epochs, killed mid-epoch
PREFERENCE = Run("preference", ("experiment=preference/sample_tiny", "trainer.max_epochs=2"), 3, 2)


def train(run_dir: Path, *overrides: str, killed: bool = False) -> str:
    args = [f"hydra.run.dir={run_dir}", *CHECKPOINTING, *overrides]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = entry_points.run("maeum.train", *args, cwd=REPO, env=env)
    expected = -signal.SIGKILL if killed else 0
    assert proc.returncode == expected, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def final_test_metrics(run_dir: Path) -> dict[str, float]:
    """The test metrics of the run's latest CSV log, and its last `val/*_best` (over the whole run)."""
    latest = max(run_dir.glob("csv/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    with latest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    wanted = [k for k in rows[0] if k.startswith("test/") or k.endswith("_best")]
    return {k: float(v) for row in rows for k, v in row.items() if k in wanted and v}


def assert_same_result(whole: Path, resumed: Path, run: Run, *, samples: bool = True) -> None:
    """Bit for bit: the final weights, the test metrics and predictions, the best checkpoint's epoch, and
    (`samples`, for a run resumed in its own directory) a chatbot's `generation_samples.txt`."""
    expected, got = (checkpoint(d / "checkpoints" / "last.ckpt") for d in (whole, resumed))
    assert expected["global_step"] == got["global_step"] == run.steps
    assert expected["state_dict"].keys() == got["state_dict"].keys()
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, got["state_dict"][name]), name
    metrics = final_test_metrics(whole)
    assert metrics.keys() >= {"test/loss"} and len(metrics) >= 4 and any(k.endswith("_best") for k in metrics)
    assert final_test_metrics(resumed) == metrics
    predictions = "test_predictions.csv"
    assert (resumed / predictions).read_bytes() == (whole / predictions).read_bytes()
    best = sorted(p.name for p in (whole / "checkpoints").glob("epoch_*.ckpt"))
    assert len(best) == 1
    assert sorted(p.name for p in (resumed / "checkpoints").glob("epoch_*.ckpt")) == best
    best_epochs = [checkpoint(d / "checkpoints" / best[0])["epoch"] for d in (whole, resumed)]
    assert best_epochs[0] == best_epochs[1]
    generated = whole / "generation_samples.txt"
    if samples and generated.is_file():  # each validation's samples once, though some ran twice
        assert (resumed / generated.name).read_text(encoding="utf-8") == generated.read_text(encoding="utf-8")


def kill_after_step(run: Run, step: int) -> list[str]:
    """Killed once step `step`'s `last.ckpt` is written: before the next step, or, after an epoch's last
    step, as its validation starts."""
    hook = "on_validation_start" if step % run.steps_per_epoch == 0 else "on_train_batch_start"
    return kill_in(hook, step)


def kill_in(hook: str, step: int | None = None) -> list[str]:
    """Killed in callback hook `hook` at `trainer.global_step == step` (the first time, for None)."""
    at_step = [] if step is None else [f"+callbacks.kill.step={step}"]
    return ["+callbacks.kill._target_=helpers.resume.KillAt", f"+callbacks.kill.hook={hook}", *at_step]


def die_writing(save: int) -> list[str]:
    """Killed half-way through writing this process's `save`-th checkpoint."""
    return [f"trainer.plugins=[{{_target_:helpers.resume.DiesWhileWriting,at_save:{save}}}]"]


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    """Two runs at a time (the machine has two cores): these tests spend most of their time starting
    processes, which share the cores well."""
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


@pytest.fixture(scope="module")
def whole_runs(
    pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory, uninterrupted_chatbot: Future[Path]
) -> dict[str, Future[Path]]:
    """Each run once, never stopped (the chatbot's is the session's, which the SLURM tests share)."""

    def whole(run: Run, path: Path) -> Path:
        train(path, *run.overrides)
        return path

    classifier = RUNS["classifier"]
    return {
        "chatbot": uninterrupted_chatbot,
        "classifier": pool.submit(whole, classifier, tmp_path_factory.mktemp("whole-classifier")),
    }


def kill_chain(run: Run) -> list[tuple[str, list[str], int]]:
    """The boundary cases, as one run killed again and again, each time resumed from its `last.ckpt`: what
    kills it, and the step its `last.ckpt` holds then."""
    epoch = run.steps_per_epoch
    if run.name == "classifier":
        return [
            ("after the first step", kill_after_step(run, 1), 1),
            ("after the last step before validation", kill_after_step(run, 2 * epoch), 2 * epoch),
            ("during validation", kill_in("on_validation_batch_end", run.steps), run.steps),
            ("after the last epoch, during test", kill_in("on_test_batch_start"), run.steps),
        ]
    return [
        ("after the first step", kill_after_step(run, 1), 1),
        ("after the last step before validation", kill_after_step(run, epoch), epoch),
        # resumed before the validation, and killed in it
        ("during validation", kill_in("on_validation_batch_end", epoch), epoch),
        # resumed there again: its first save is the epoch's best checkpoint, after the validation
        ("half-way through writing a checkpoint", die_writing(1), epoch),
        # the epoch's end done (best checkpoint written), the next step's last.ckpt not yet
        ("after an epoch's end, before the next step", kill_in("on_train_batch_start", epoch), epoch),
        ("after the last epoch, during test", kill_in("on_test_batch_start"), run.steps),
    ]


def killed_again_and_again(run: Run, run_dir: Path) -> Path:
    """`run` killed at each point of `kill_chain`, resumed each time, and finally let finish."""
    last = run_dir / "checkpoints" / "last.ckpt"
    resume: list[str] = []
    resumed_from: int | None = None
    for point, kill, step in [*kill_chain(run), ("never: the last resume", [], run.steps)]:
        log = train(run_dir, *run.overrides, *resume, *kill, killed=bool(kill))
        if resumed_from is not None:  # each last.ckpt at an epoch's end was written before its validation
            before_validation = resumed_from % run.steps_per_epoch == 0
            assert ("its validation and epoch end runs now" in log) == before_validation, point
        assert checkpoint(last)["global_step"] == step, point
        if point.startswith("half-way"):
            assert list(last.parent.glob(".epoch_000.ckpt.*.tmp")), log  # half-written, never renamed
            assert not list(last.parent.glob("epoch_*.ckpt"))
        resume, resumed_from = [f"ckpt_path={last}"], step
    assert log.count("Nothing was left to train") == 1, log  # killed in testing: tested, not trained
    return run_dir


def resumed_elsewhere(run: Run, killed: Path, resumed: Path) -> Path:
    """`run` killed after its first epoch (best checkpoint written) and resumed into another directory, as a
    new command without `hydra.run.dir` is."""
    train(killed, *run.overrides, *kill_after_step(run, run.steps_per_epoch + 1), killed=True)
    assert [p.name for p in (killed / "checkpoints").glob("epoch_*.ckpt")] == ["epoch_000.ckpt"]
    log = train(resumed, *run.overrides, f"ckpt_path={killed / 'checkpoints' / 'last.ckpt'}")
    assert "brought the best checkpoints along" in log
    return resumed


def resumed_at_an_epoch_end(run: Run, run_dir: Path) -> Path:
    """The default checkpointing (`last.ckpt` after each epoch's end only), killed in the next epoch: the
    resume starts that epoch's loader after the checkpoint's random states, as the uninterrupted run did."""
    overrides = [*run.overrides, "callbacks.last_checkpoint.every_n_train_steps=null"]
    train(run_dir, *overrides, *kill_after_step(run, run.steps_per_epoch + 2), killed=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert checkpoint(last)["global_step"] == run.steps_per_epoch  # written at epoch 0's end
    train(run_dir, *overrides, f"ckpt_path={last}")
    return run_dir


def killed_mid_epoch(run: Run, run_dir: Path, step: int = 3) -> Path:
    """`run` killed once, in the middle of its first epoch, and resumed from that step's `last.ckpt`."""
    train(run_dir, *run.overrides, *kill_after_step(run, step), killed=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert checkpoint(last)["global_step"] == step
    train(run_dir, *run.overrides, f"ckpt_path={last}")
    return run_dir


@pytest.fixture(scope="module")
def killed_runs(
    pool: ThreadPoolExecutor, whole_runs: dict[str, Future[Path]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future]:
    """The killed runs, started at once (two at a time): each test waits for its own. The kill chains are
    started by their own tests, which run under -m slow (by default a chatbot is resumed here after a kill
    in its second epoch, and in tests/test_slurm.py after a preemption and at time limits)."""
    elsewhere = [tmp_path_factory.mktemp(name) for name in ("first run (1)", "resumed run (2)")]
    finished = tmp_path_factory.mktemp("finished")
    return {
        "elsewhere": pool.submit(resumed_elsewhere, RUNS["chatbot"], *elsewhere),
        "epoch end": pool.submit(
            resumed_at_an_epoch_end, RUNS["classifier"], tmp_path_factory.mktemp("epoch-end")
        ),
        "finished": pool.submit(finished_and_resumed, RUNS["chatbot"], whole_runs["chatbot"], finished),
    }


# both chains under -m slow (the classifier's: no schedule, so the train loader is built after the restore).
# By default: the chatbot killed mid-epoch and resumed elsewhere, the classifier's no-schedule path at an
# epoch's end (`resumed_at_an_epoch_end`), a finished run, and SLURM's requeues (tests/test_slurm.py)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) for n in RUNS])
def test_a_run_killed_at_every_boundary_resumes_to_exactly_the_uninterrupted_result(
    whole_runs: dict[str, Future[Path]],
    killed_runs: dict[str, Future],
    pool: ThreadPoolExecutor,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
) -> None:
    run = RUNS[name]
    if name not in killed_runs:
        killed_runs[name] = pool.submit(killed_again_and_again, run, tmp_path_factory.mktemp("killed"))
    resumed = killed_runs[name].result()
    assert_same_result(whole_runs[run.name].result(), resumed, run)
    assert not list((resumed / "checkpoints").glob(".*.tmp"))  # each name's next save cleared its half-write


def test_a_run_resumed_into_another_directory_keeps_its_best_checkpoint(
    whole_runs: dict[str, Future[Path]], killed_runs: dict[str, Future]
) -> None:
    """Lightning forgets the best score when the checkpoint directory changes; the first epoch after the
    resume (here a worse one) would then be tested."""
    resumed = killed_runs["elsewhere"].result()
    assert_same_result(whole_runs["chatbot"].result(), resumed, RUNS["chatbot"], samples=False)


def test_a_run_resumed_from_an_epoch_end_checkpoint_resumes_to_exactly_the_uninterrupted_result(
    whole_runs: dict[str, Future[Path]], killed_runs: dict[str, Future]
) -> None:
    """Weights and test results do not depend on how often `last.ckpt` is written: the whole run with
    `every_n_train_steps=1` is the reference."""
    assert_same_result(
        whole_runs["classifier"].result(), killed_runs["epoch end"].result(), RUNS["classifier"]
    )


@pytest.mark.slow
def test_a_lora_run_killed_mid_epoch_resumes_to_exactly_the_uninterrupted_result(
    pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The adapters, their optimizer state and the loader's position come back; the frozen base is read
    from the backbone again, and the checkpoint never held it. (Slow: about 2 minutes; the default run
    resumes full fine-tuning mid-epoch, and pretraining in `test_pretrain.py`.)"""
    whole_dir = tmp_path_factory.mktemp("whole-lora")
    whole = pool.submit(lambda: train(whole_dir, *LORA.overrides) and whole_dir)
    resumed = pool.submit(killed_mid_epoch, LORA, tmp_path_factory.mktemp("killed-lora")).result()
    assert_same_result(whole.result(), resumed, LORA)
    weights = checkpoint(resumed / "checkpoints" / "last.ckpt")["state_dict"]
    assert all("lora_" in k for k, v in weights.items() if v.is_floating_point() and v.ndim >= 1)


@pytest.mark.slow
def test_a_preference_run_killed_mid_epoch_resumes_to_exactly_the_uninterrupted_result(
    pool: ThreadPoolExecutor, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """DPO's model, its optimizer, the loader's position and the pairs' metrics come back; the frozen
    reference is the backbone again. (Slow: the chatbot's chain covers the same resume path by default.)"""
    whole_dir = tmp_path_factory.mktemp("whole-preference")
    whole = pool.submit(lambda: train(whole_dir, *PREFERENCE.overrides) and whole_dir)
    killed = tmp_path_factory.mktemp("killed-preference")
    resumed = pool.submit(killed_mid_epoch, PREFERENCE, killed, 2).result()
    assert_same_result(whole.result(), resumed, PREFERENCE)
    assert "test/rewards/accuracies" in final_test_metrics(resumed)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_a_run_killed_after_any_step_resumes_to_exactly_the_uninterrupted_result(
    pool: ThreadPoolExecutor, whole_runs: dict[str, Future[Path]], tmp_path: Path, name: str
) -> None:
    run = RUNS[name]

    def killed_after(step: int) -> Path:
        run_dir = tmp_path / f"step {step}"
        log = train(run_dir, *run.overrides, *kill_after_step(run, step), killed=True)
        last = run_dir / "checkpoints" / "last.ckpt"
        assert checkpoint(last)["global_step"] == step, log
        log = train(run_dir, *run.overrides, f"ckpt_path={last}")
        before_validation = step % run.steps_per_epoch == 0
        assert ("its validation and epoch end runs now" in log) == before_validation, step
        return run_dir

    for run_dir in pool.map(killed_after, range(1, run.steps)):
        assert_same_result(whole_runs[name].result(), run_dir, run)  # run_dir names the step


@pytest.mark.slow
def test_an_epoch_without_validation_killed_before_its_end_resumes_to_the_same_result(
    pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    """`check_val_every_n_epoch=2`: epoch 0 ends without a validation, and is killed before its end."""
    run = RUNS["classifier"]
    overrides = [*run.overrides, "trainer.check_val_every_n_epoch=2"]
    whole = pool.submit(train, tmp_path / "whole", *overrides)
    killed = tmp_path / "killed"
    train(killed, *overrides, *kill_in("on_train_epoch_end", run.steps_per_epoch), killed=True)
    assert checkpoint(killed / "checkpoints" / "last.ckpt")["global_step"] == run.steps_per_epoch
    log = train(killed, *overrides, f"ckpt_path={killed / 'checkpoints' / 'last.ckpt'}")
    assert "epoch 0: its epoch end runs now" in log
    whole.result()
    assert_same_result(tmp_path / "whole", killed, run)


def finished_and_resumed(run: Run, whole: Future[Path], run_dir: Path) -> tuple[bytes, bytes, str]:
    """The uninterrupted run, copied once it has ended, resumed from its `last.ckpt`: the test predictions of
    both, and the resumed run's log."""
    shutil.copytree(whole.result(), run_dir, dirs_exist_ok=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert checkpoint(last)["global_step"] == run.steps  # stopped early, an epoch before max_epochs
    predictions = (run_dir / "test_predictions.csv").read_bytes()
    (run_dir / "test_predictions.csv").unlink()
    log = train(run_dir, *run.overrides, f"ckpt_path={last}")
    assert checkpoint(last)["global_step"] == run.steps
    return predictions, (run_dir / "test_predictions.csv").read_bytes(), log


def test_a_finished_run_resumed_is_tested_again_without_training(killed_runs: dict[str, Future]) -> None:
    """A run that early stopping ended, resumed: it says so in one line, trains no step and tests the same
    best checkpoint again."""
    first, again, log = killed_runs["finished"].result()
    assert log.count("Nothing was left to train") == 1
    assert again == first
