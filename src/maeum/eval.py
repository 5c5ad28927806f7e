"""`maeum-eval` / `python -m maeum.eval ckpt_path=...`: re-test a checkpoint written by `maeum-train`.

The data config and model class come from the checkpoint itself (`maeum.training.saving` stores
them), so the same split is rebuilt and the test metrics are reproduced. `data=...` (and `data.*=...`) test
on other data.

Without a checkpoint, on raw text, it measures any causal backbone as it is (`test/bpc`, `test/ppl`):

    maeum-eval data=text/files data.test_path=held_out.txt backbone=korean_gpt2_small
"""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, open_dict

from maeum.cli import hydra_main
from maeum.errors import MaeumError
from maeum.inference.checkpoints import load_run_config
from maeum.models.pretrain import PretrainLM
from maeum.runs.kinds import KINDS, kind_of
from maeum.runtime import (
    extras,
    instantiate_callbacks,
    instantiate_list,
    report_metrics,
    save_resolved_config,
    task_wrapper,
)
from maeum.training.checks import check_backbone


@task_wrapper
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test the checkpoint `cfg.ckpt_path` (or a backbone on text); return its test metrics."""
    if not cfg.get("ckpt_path"):
        return _evaluate_backbone_on_text(cfg)
    run_cfg = load_run_config(cfg.ckpt_path)
    with open_dict(cfg):  # a chosen `data=` interpolates the run's tokenizer (backbone) and seed
        cfg.backbone = run_cfg.backbone
        cfg.seed = run_cfg.seed
        if cfg.get("data") and "seed" in run_cfg.data and not _overridden("data.seed"):
            cfg.data.seed = run_cfg.data.seed  # and splits as the run did (its data.seed)
    extras(cfg)
    save_resolved_config(cfg)
    kind = kind_of(run_cfg)
    datamodule = instantiate(cfg.data if cfg.get("data") else run_cfg.data)
    model_class = get_class(run_cfg.model._target_)
    model = model_class.load_from_checkpoint(cfg.ckpt_path, map_location="cpu", pretrained=False)
    if kind.baseline and list(model.labels) != list(datamodule.labels):
        raise MaeumError(
            f"{cfg.ckpt_path}: the model's labels {model.labels} differ from the data's {datamodule.labels}; "
            "test on data with the same label set (data.labels fixes the order)."
        )
    trainer = instantiate(
        cfg.trainer,
        logger=instantiate_list(cfg.get("logger")),
        callbacks=instantiate_callbacks(cfg.get("callbacks"), kind),
    )
    trainer.test(model=model, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    baseline = datamodule.majority_baseline("test") if kind.baseline else {}
    report_metrics(f"test: {cfg.ckpt_path}", metrics, baseline)
    return metrics


def _evaluate_backbone_on_text(cfg: DictConfig) -> dict[str, float]:
    """A causal backbone's `test/bpc` on `data=text/...`'s test documents, with no checkpoint."""
    text = KINDS["pretrain"].data
    is_text = cfg.get("data") and issubclass(get_class(str(cfg.data.get("_target_"))), get_class(text))
    if not is_text or not cfg.get("backbone"):
        raise MaeumError(
            "give ckpt_path=CKPT to re-test a trained run, or measure a causal backbone's bits per character "
            "on text: data=text/files data.test_path=FILE backbone=NAME (backbone.name_or_path=DIR)"
        )
    check_backbone(KINDS["pretrain"], {"objective": "causal", "backbone": cfg.backbone.name_or_path})
    extras(cfg)
    save_resolved_config(cfg)
    datamodule = instantiate(cfg.data, objective="causal")
    model = PretrainLM(
        backbone=cfg.backbone.name_or_path,
        objective="causal",
        optimizer={},
        tokenizer=datamodule.tokenizer_name,
        from_scratch=False,
    )
    trainer = instantiate(cfg.trainer, logger=instantiate_list(cfg.get("logger")))
    trainer.test(model=model, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    report_metrics(f"test: {cfg.backbone.name_or_path} on {cfg.data.test_path or cfg.data.path}", metrics, {})
    return metrics


def _overridden(key: str) -> bool:
    """Whether `key=...` was given on the command line."""
    if not HydraConfig.initialized():
        return False
    return any(o.lstrip("+~").split("=", 1)[0] == key for o in HydraConfig.get().overrides.task)


@hydra_main("eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
