"""`maeum-train` / `python -m maeum.train`: seed, build everything from the config, fit, then test the best
checkpoint next to the majority-class baseline.

    python -m maeum.train                                 # the default: emotion classifier on the sample
    python -m maeum.train experiment=emotion/sample_tiny  # a versioned experiment
    python -m maeum.train -m trainer.max_epochs=1,2       # a Hydra multirun
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning import seed_everything
from pytorch_lightning.callbacks import LearningRateMonitor

from maeum.cli import hydra_main
from maeum.runs.files import FAILED
from maeum.runs.kinds import model_config
from maeum.runtime import (
    check_argument_types,
    extras,
    instantiate_callbacks,
    instantiate_list,
    log_hyperparameters,
    report_metrics,
    require,
    save_resolved_config,
    tag_run,
    task_wrapper,
    user_error_behind,
)
from maeum.training.checks import check_resume_split, check_run, check_tokenizer_fits
from maeum.training.requeue import (
    RequeueCallback,
    Requeued,
    cluster_plugins,
    defer_requeue,
    requeued_checkpoint,
    restarts,
)
from maeum.training.resume import ResumeCallback
from maeum.training.saving import RunConfigCallback

log = logging.getLogger(__name__)


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and test the model that `cfg` describes; return the final metrics."""
    require(cfg)
    check_argument_types(cfg, ["data", "model", "trainer"])  # before the config is printed: one line
    kind = check_run(cfg)
    extras(cfg)
    tag_run(cfg)
    save_resolved_config(cfg)
    if cfg.get("seed") is not None:
        seed_everything(cfg.seed, workers=True)
    if cfg.get("ckpt_path"):
        check_resume_split(cfg)
    ckpt_path = cfg.get("ckpt_path") or requeued_checkpoint(cfg.paths.output_dir)
    if ckpt_path and not cfg.get("ckpt_path"):
        log.info("Requeued by SLURM (restart %d): resuming from %s", restarts(), ckpt_path)

    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule = instantiate(cfg.data)
    log.info(
        "Instantiating a %s model <%s> on backbone %s", kind.name, cfg.model._target_, cfg.model.backbone
    )
    model = instantiate(model_config(cfg), **datamodule.model_kwargs())
    check_tokenizer_fits(cfg, datamodule, model)

    loggers = instantiate_list(cfg.get("logger"))
    callbacks = instantiate_callbacks(cfg.get("callbacks"), kind)
    if not loggers:  # LearningRateMonitor refuses to run without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    callbacks += [RunConfigCallback(cfg), ResumeCallback(), RequeueCallback()]
    plugins = [instantiate(p) if isinstance(p, DictConfig) else p for p in cfg.trainer.get("plugins") or []]
    plugins += cluster_plugins()
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers, plugins=plugins or None)
    log_hyperparameters(trainer, model, cfg)

    if cfg.get("train"):
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}

    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            log.info("Testing the best checkpoint %s", best)
        else:
            log.warning("No best checkpoint was saved; testing the current weights")
        trainer.test(model=model, datamodule=datamodule, ckpt_path=best or None)
        test_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        baseline = datamodule.majority_baseline("test") if kind.baseline else {}
        report_metrics(f"test: {best or 'current weights'}", test_metrics, baseline)
        majority = {k.replace("test/", "test/majority_", 1): v for k, v in baseline.items()}
        for logger in trainer.loggers:
            logger.log_metrics(majority)
            logger.save()  # the test loop has saved its own: without this, a CSV log never gets these
        metrics.update({**test_metrics, **majority})
    return metrics


@hydra_main("train")
def main(cfg: DictConfig) -> float | None:
    """Train; in a hyperparameter search, return `cfg.optimized_metric` as the objective.

    In a multirun, a run that fails with a user error (already logged as one line) returns None, so the
    Optuna sweeper records the trial as failed and the grid or study goes on; a missing or non-finite
    objective is also None.
    """
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    defer_requeue()
    try:
        metrics = train(cfg)
    except Requeued:
        raise  # not a failure: the run goes on in the job's next allocation
    except SystemExit as exit_:
        if not multirun:
            raise
        why = user_error_behind(exit_.__context__) or "see the run's log"  # the one-line error it printed
        (Path(cfg.paths.output_dir) / FAILED).write_text(f"{why}\n", encoding="utf-8")
        log.error("Run failed; the sweep goes on")
        return None
    if name := cfg.get("optimized_metric"):
        value = metrics.get(name)
        if value is None or not math.isfinite(value):
            log.error("The objective %s is %s: the trial counts as failed", name, value)
            return None
        return value
    return None


if __name__ == "__main__":
    main()
