"""`maeum-train` / `python -m maeum.train`: seed, build everything from the config, fit, then test the best
checkpoint next to the majority-class baseline.

    python -m maeum.train                                 # the default: emotion classifier on the sample
    python -m maeum.train experiment=emotion/sample_tiny  # a versioned experiment
    python -m maeum.train -m trainer.max_epochs=1,2       # a Hydra multirun
"""

from __future__ import annotations

import logging
import math

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning import LightningDataModule, LightningModule, seed_everything
from pytorch_lightning.callbacks import LearningRateMonitor

from maeum.backbones.embeddings import embedding_rows
from maeum.cli import hydra_main
from maeum.errors import MaeumError
from maeum.inference.checkpoints import CHECKPOINT_KEY, read_checkpoint
from maeum.runtime import (
    check_argument_types,
    extras,
    instantiate_list,
    log_hyperparameters,
    report_metrics,
    require,
    save_resolved_config,
    tag_run,
    task_wrapper,
)
from maeum.training.checkpointing import RunConfigCallback
from maeum.training.resume import ResumeCallback

log = logging.getLogger(__name__)
LIGHTNING_CKPT_NAMES = ("last", "best", "hpc", "registry")  # ckpt_path values that Lightning resolves itself


def check_resume_split(cfg: DictConfig) -> None:
    """Refuse to resume what the checkpoint cannot continue: another split than its own (before `data.seed`
    was fixed at 42, the split followed `seed`, so an older run's checkpoint names the split seed it was
    trained on), another kind of dialogue template (a chat template against markers), or adapters
    (`model.peft`) where it has none, or the reverse."""
    path = str(cfg.ckpt_path)
    if path in LIGHTNING_CKPT_NAMES or path.startswith("registry:") or "://" in path:
        return  # resolved, or read from remote storage, by Lightning itself
    run = read_checkpoint(cfg.ckpt_path).get(CHECKPOINT_KEY)  # a missing or damaged one: one error here
    trained_cfg = (run or {}).get("config", {})  # a foreign checkpoint: nothing to check
    trained = trained_cfg.get("data", {}).get("seed")
    if trained is not None and cfg.data.get("seed") is not None and trained != cfg.data.seed:
        raise MaeumError(
            f"{cfg.ckpt_path} was trained on the split of data.seed={trained}, this run splits with "
            f"data.seed={cfg.data.seed}: add data.seed={trained} to resume it on its own split."
        )
    if not trained_cfg:
        return
    kinds = [_template_kind(c.get("data", {}).get("template")) for c in (trained_cfg, cfg)]
    if kinds[0] != kinds[1]:
        raise MaeumError(
            f"{cfg.ckpt_path} was trained on dialogues in {kinds[0]}, and this run lays them out in"
            f" {kinds[1]}: the same token ids mean other things there. Resume it with the data/template it"
            " was trained with."
        )
    adapters = [bool(c.get("model", {}).get("peft")) for c in (trained_cfg, cfg)]
    if adapters[0] != adapters[1]:
        hint = "add model/peft=lora" if adapters[0] else "drop model/peft"
        raise MaeumError(
            f"{cfg.ckpt_path} was trained {'with' if adapters[0] else 'without'} LoRA adapters"
            f" (model.peft), and this run has {'none' if adapters[0] else 'them'}: {hint} to resume it."
        )


def _template_kind(template: object) -> str | None:
    """Which kind of layout a `data.template` is (None for data without dialogues)."""
    if template is None:
        return None
    if isinstance(template, str):
        chat = template == "chat_template"
    else:
        fields = dict(template)
        chat = fields.get("kind") == "chat_template" or str(fields.get("_target_", "")).endswith(
            "ChatTemplate"
        )
    return "the tokenizer's chat template" if chat else "a marker layout (<usr>/<sys>)"


def check_tokenizer_fits(cfg: DictConfig, datamodule: LightningDataModule, model: LightningModule) -> None:
    """Refuse a tokenizer with ids past the model's token embeddings before any forward pass (the original
    notebooks' "CUDA device-side assert"): `data.tokenizer` extended, `model.backbone` not."""
    tokenizer = getattr(datamodule, "tokenizer", None)
    rows = embedding_rows(model)
    if tokenizer is None or rows is None or len(tokenizer) <= rows:
        return
    data_tokenizer = cfg.data.get("tokenizer", getattr(datamodule, "tokenizer_name", "?"))
    raise MaeumError(
        f"the tokenizer data.tokenizer={data_tokenizer} has {len(tokenizer)} tokens, and the model"
        f" model.backbone={cfg.model.get('backbone')} has {rows} token embeddings: ids from {rows} up would"
        " index past them. The tokenizer is not the backbone's; point both at the same directory (e.g. the"
        " one `maeum-tokenizer extend` wrote: backbone.name_or_path=DIR sets both)."
    )


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and test the model that `cfg` describes; return the final metrics."""
    require(cfg)
    check_argument_types(cfg, ["data", "model", "trainer"])  # before the config is printed: one line
    extras(cfg)
    tag_run(cfg)
    save_resolved_config(cfg)
    if cfg.get("seed") is not None:
        seed_everything(cfg.seed, workers=True)
    if cfg.get("ckpt_path"):
        check_resume_split(cfg)

    log.info("Instantiating datamodule <%s>", cfg.data._target_)
    datamodule = instantiate(cfg.data)
    log.info("Instantiating model <%s> on backbone %s", cfg.model._target_, cfg.model.get("backbone"))
    model = instantiate(cfg.model, **datamodule.model_kwargs())
    check_tokenizer_fits(cfg, datamodule, model)

    loggers = instantiate_list(cfg.get("logger"))
    callbacks = instantiate_list(cfg.get("callbacks"))
    if not loggers:  # LearningRateMonitor refuses to run without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    callbacks += [RunConfigCallback(cfg), ResumeCallback()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    log_hyperparameters(trainer, model, cfg)

    if cfg.get("train"):
        trainer.fit(model=model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}

    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            log.info("Testing the best checkpoint %s", best)
        else:
            log.warning("No best checkpoint was saved; testing the current weights")
        trainer.test(model=model, datamodule=datamodule, ckpt_path=best or None)
        test_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        has_baseline = hasattr(datamodule, "majority_baseline")  # classification data
        baseline = datamodule.majority_baseline("test") if has_baseline else {}
        report_metrics(f"test: {best or 'current weights'}", test_metrics, baseline)
        majority = {k.replace("test/", "test/majority_", 1): v for k, v in baseline.items()}
        for logger in trainer.loggers:
            logger.log_metrics(majority)
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
    try:
        metrics = train(cfg)
    except SystemExit:
        if not multirun:
            raise
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
