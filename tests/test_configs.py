"""Every shipped config composes, and every experiment and debug preset runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from maeum.paths import config_dir
from maeum.train import train

CONF = config_dir()
EXPERIMENTS = sorted(
    str(p.relative_to(CONF / "experiment").with_suffix("")) for p in CONF.glob("experiment/**/*.yaml")
)
OFFLINE = {"kobert": "tiny_bert", "klue_bert": "tiny_bert", "kcbert": "tiny_bert", "kogpt2": "tiny_gpt2"}


def options(group: str) -> list[str]:
    return sorted(str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).glob("**/*.yaml"))


@pytest.mark.parametrize(
    "override",
    [
        f"{group}={name}"
        for group in ("data", "backbone", "trainer", "callbacks", "debug")
        for name in options(group)
    ]
    + [f"logger={name}" for name in options("logger")],
)
def test_every_config_option_composes_and_resolves(train_cfg, override: str) -> None:
    cfg = train_cfg(override)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=override != "callbacks=early_stopping")


def test_there_are_experiments() -> None:
    assert "emotion/sample_tiny" in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_a_fast_dev_run(train_cfg, experiment: str) -> None:
    cfg = train_cfg(f"experiment={experiment}", "debug=fdr")
    backbone = Path(str(OmegaConf.select(cfg, "backbone.name_or_path"))).name
    if backbone not in ("tiny_bert", "tiny_gpt2"):  # no hub here: run the experiment on its tiny twin
        cfg = train_cfg(
            f"experiment={experiment}", "debug=fdr", f"backbone={OFFLINE[cfg_backbone(experiment)]}"
        )
    metrics = train(cfg)
    assert "test/acc" in metrics or "test/loss" in metrics


def cfg_backbone(experiment: str) -> str:
    text = (CONF / "experiment" / f"{experiment}.yaml").read_text(encoding="utf-8")
    return next(line.split(":")[1].strip() for line in text.splitlines() if "override /backbone" in line)


@pytest.mark.parametrize("preset", ["fdr", "overfit", "limit", "profiler"])
def test_debug_presets_run(train_cfg, preset: str) -> None:
    shorten = ["trainer.max_epochs=2"] if preset in ("overfit", "limit") else []
    metrics = train(train_cfg(f"debug={preset}", *shorten))
    assert metrics["test/acc"] >= 0


def test_overfitting_a_few_batches_drives_the_loss_down(train_cfg) -> None:
    metrics = train(train_cfg("debug=overfit", "test=false"))
    assert metrics["train/loss_epoch"] < 0.1


@pytest.mark.slow
def test_ddp_sim_runs(train_cfg) -> None:
    metrics = train(train_cfg("trainer=ddp_sim", "trainer.max_epochs=2", "logger=wandb"))
    assert metrics["test/acc"] >= 0
