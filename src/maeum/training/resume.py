"""Resuming a killed run exactly where it stopped (`ResumeCallback`)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.trainer.states import TrainerFn

from maeum.training import lightning_private as private

log = logging.getLogger(__name__)


class ResumeCallback(Callback):
    """What Lightning leaves out of a resume, so that a run resumed from `last.ckpt`, whenever it was killed,
    continues exactly as one that was never stopped.

    - The process's random states (torch, CUDA, numpy, `random`): kept in every checkpoint and set again at
      `on_train_start`, at the point of the run the checkpoint was written at: after the resumed epoch's
      loader iterator exists when it was written between two batches, before the next epoch's iterator
      (which draws from them) when it was written at an epoch's end. Lightning's own collect/set helpers, as
      Fabric's checkpoints use them.
    - The train loader's position in the resumed epoch's shuffle order. Lightning 2.6 builds the resumed
      epoch's iterator before it sets the sampler's epoch, so the iterator would draw epoch 0's order;
      and when `configure_optimizers` reads `trainer.estimated_stepping_batches` (maeum's schedules do),
      the loader is built before the checkpoint is restored and the saved `StatefulDataLoader` state is
      never loaded at all (Lightning issue #20550). So at `on_train_start` of a mid-epoch resume the
      sampler gets the resumed epoch, the saved loader state is loaded and the fetcher's iterator
      re-created, as Lightning's open fix (PR #21765) does.
    - The epoch's end, when the checkpoint was written after the epoch's last training batch and before its
      validation (`every_n_train_steps` dividing the epoch: the kill window is the whole validation pass).
      Lightning counts such an epoch as finished and skips its validation and epoch-end callbacks (early
      stopping, checkpoints, samples); `on_load_checkpoint` rewrites the loop progress into the state
      Lightning resumes mid-validation from, so that the validation and the epoch end run, once.
    - The stop: a run that a configured early stopping had ended stays ended (its saved state says so), so
      resuming a finished run (one killed while testing, say) trains no further; without
      `callbacks.early_stopping` it trains on.
    - The best checkpoints, when the run resumes into another directory (`_bring_best_checkpoints`).

    Every private name of Lightning it reads is read through `maeum.training.lightning_private`, checked when
    a fit starts. `tests/test_resume.py` pins the behaviour against Lightning, by killing real runs
    at the boundaries (after an epoch's first and last step, during validation, during testing, half-way
    through a checkpoint write) and, under `pytest -m slow`, after every step.
    """

    def __init__(self) -> None:
        self._to_restore: dict[str, Any] | None = None
        self._loader_states: list[dict[str, Any]] | None = None
        self._validation_restarted = False
        self._max_steps_raised = False
        self._resumed_at: int | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            private.check(trainer)  # one clear error on a Lightning without what resuming needs

    def state_dict(self) -> dict[str, Any]:
        states = private.collect_rng_states(include_cuda=torch.cuda.is_available())
        kind, keys, pos, has_gauss, gauss = states["numpy"]  # plain ints: checkpoints stay weights_only
        states["numpy"] = (kind, [int(k) for k in keys], int(pos), int(has_gauss), float(gauss))
        return states

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        numpy_state = (kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss)
        self._to_restore = {**state_dict, "numpy": numpy_state}

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return
        fit = private.fit_progress(checkpoint)
        self._loader_states = fit.get("state_dict", {}).get("combined_loader") or None
        self._resumed_at = int(checkpoint.get("global_step", 0))
        self._validation_restarted = _restart_before_epoch_end(trainer, fit, checkpoint["epoch"])
        if self._validation_restarted and 0 <= trainer.max_steps <= self._resumed_at:
            trainer.fit_loop.epoch_loop.max_steps += 1  # or Lightning stops before the validation
            self._max_steps_raised = True
        _bring_best_checkpoints(trainer, checkpoint.get("callbacks", {}))
        trainer.should_stop = _stopped_early(trainer, checkpoint.get("callbacks", {}))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._resumed_at is not None and trainer.global_step == self._resumed_at:
            log.info(
                "Nothing was left to train in %s (step %d, epoch %d): no step was trained (raise "
                "trainer.max_epochs or max_steps, or drop callbacks.early_stopping, to train on)",
                trainer.ckpt_path,
                trainer.global_step,
                trainer.current_epoch,
            )
        self._resumed_at = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        rng = self._to_restore
        self._to_restore = None
        states = self._loader_states
        self._loader_states = None
        fetcher = private.data_fetcher(trainer)
        if fetcher is None:
            return
        if (
            trainer.fit_loop.restarting
        ):  # between two batches of an epoch (or after its last, before validation)
            if states:
                self._set_sampler_epoch(trainer)  # the resumed epoch's permutation, before the iterator
                private.restore_loader_states(trainer, states)  # prefetches
                iter(fetcher)
            if rng is not None:
                private.set_rng_states(
                    rng
                )  # the checkpoint's moment: the next thing to draw is the next batch
        elif rng is not None:  # at an epoch's end: the next epoch's iterator draws after the checkpoint's
            private.set_rng_states(rng)  # moment, in its own permutation; Lightning built it before: again
            self._set_sampler_epoch(trainer)
            iter(fetcher)

    @staticmethod
    def _set_sampler_epoch(trainer: Trainer) -> None:
        for loader in private.train_loaders(trainer):
            if hasattr(getattr(loader, "sampler", None), "set_epoch"):
                loader.sampler.set_epoch(trainer.current_epoch)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._validation_restarted:  # undo the one batch that marked the validation as started
            total = trainer.fit_loop.epoch_loop.val_loop.batch_progress.total
            total.ready = total.started = total.completed
            self._validation_restarted = False
        if self._max_steps_raised:
            trainer.fit_loop.epoch_loop.max_steps -= 1
            self._max_steps_raised = False


def _restart_before_epoch_end(trainer: Trainer, fit: dict[str, Any], epoch: int) -> bool:
    """Rewrite in place the fit-loop progress of a checkpoint written in `on_train_batch_end` of an epoch's
    last batch, so that Lightning runs that epoch's end on resume; True when the end starts with validation.

    Lightning resumes such a checkpoint by counting the epoch as done (`FitLoop.reset`), so neither the
    validation nor `on_train_epoch_end` ever run for it. Marked as completed, the last batch leaves the
    training epoch loop at its end (`RESTARTED_ON_LAST`); with one validation batch marked as started,
    Lightning sees a validation cut short and runs it again from its start, then the epoch's end
    (`TrainingEpochLoop.advance`: "Go back and finish running validation"). `on_validation_start` takes the
    marker back out of the counts. Without a validation at this epoch, the epoch end runs directly, and only
    the step counter that the batch's end would have advanced is advanced.
    """
    batches_key, epochs_key, val_key = private.PROGRESS
    batches = fit.get(batches_key)
    epochs = fit.get(epochs_key)
    if not batches or not epochs or not batches.get("is_last_batch"):
        return False
    saved_in_batch_end = all(
        batches[part]["completed"] == batches[part]["processed"] - 1 for part in ("total", "current")
    )
    epoch_open = epochs["total"]["processed"] == epochs["total"]["started"] - 1
    if not (saved_in_batch_end and epoch_open):
        return False
    if private.validates_by_time(trainer):
        return False  # validation by wall time: whether this batch validated is not in the checkpoint
    for part in ("total", "current"):
        batches[part]["completed"] = batches[part]["processed"]
    validates = trainer.enable_validation and _validates_after(trainer, batches, epoch)
    if validates:
        val = fit[val_key]
        val["current"] = {"ready": 1, "started": 1, "processed": 0, "completed": 0}
        done = val["total"]["completed"]
        val["total"] = {"ready": done + 1, "started": done + 1, "processed": done, "completed": done}
    else:
        state, stepped = private.BATCHES_STEPPED
        fit[state][stepped] += 1
    log.info(
        "Resuming after the last training batch of epoch %d: its %s runs now",
        epoch,
        "validation and epoch end" if validates else "epoch end",
    )
    return validates


def _validates_after(trainer: Trainer, batches: dict[str, Any], epoch: int) -> bool:
    """Whether the batch a checkpoint ends on is followed by a validation: Lightning's own rule
    (`TrainingEpochLoop._should_check_val_fx`) for a batch of `batches["current"]["ready"]` in its epoch."""
    every = trainer.check_val_every_n_epoch
    interval = trainer.val_check_interval
    if every is None:  # every `val_check_interval` batches, counted over the whole run
        return isinstance(interval, int) and batches["total"]["ready"] % interval == 0
    if (epoch + 1) % every:
        return False
    in_epoch = batches["current"]["ready"]
    every_batches = interval if isinstance(interval, int) else max(1, int(in_epoch * interval))
    return in_epoch % every_batches == 0


def _stopped_early(trainer: Trainer, states: dict[str, Any]) -> bool:
    """Whether a configured `EarlyStopping` callback had stopped the run, by its saved state."""
    for callback in trainer.early_stopping_callbacks:
        state = states.get(callback.state_key) or {}
        reason = state.get("stopping_reason")  # Lightning 2.6; before it, the epoch it stopped at
        if (reason != 0) if reason is not None else state.get("stopped_epoch", 0) > 0:
            return True
    return False


def _bring_best_checkpoints(trainer: Trainer, states: dict[str, Any]) -> None:
    """Bring a run's best checkpoints along when it resumes into another run directory (Hydra gives every
    command its own): Lightning's `ModelCheckpoint` forgets their scores when its `dirpath` has changed, so
    the first epoch after the resume would count as the best, whatever it scored. The files are hard-linked
    (copied across filesystems) into the new directory, and the saved state is pointed at them."""
    for callback in trainer.checkpoint_callbacks:
        state = states.get(callback.state_key)
        if not state or not callback.monitor or state.get("dirpath") in (None, callback.dirpath):
            continue
        best = {Path(path): score for path, score in (state.get("best_k_models") or {}).items()}
        if not all(path.is_file() for path in best):
            continue  # moved or deleted since: Lightning's own reset (and its warning)
        here = {str(path): str(Path(callback.dirpath) / path.name) for path in best}
        if trainer.is_global_zero:  # the files once; every rank points its state at them
            for source, target in here.items():
                _link_or_copy(Path(source), Path(target))
        state["best_k_models"] = {here[str(path)]: score for path, score in best.items()}
        for key in ("best_model_path", "kth_best_model_path", "last_model_path"):
            state[key] = here.get(state.get(key) or "", state.get(key))
        if here:
            log.info(
                "Resumed into %s: brought the best checkpoints along from %s: %s",
                callback.dirpath,
                state["dirpath"],
                ", ".join(Path(t).name for t in here.values()),
            )
        state["dirpath"] = callback.dirpath


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links: copied, then renamed into place
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copy2(source, tmp)
        os.replace(tmp, target)
