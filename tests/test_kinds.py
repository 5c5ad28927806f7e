"""Run kinds (`maeum.runs.kinds`): every model config names its kind, runs written before kinds are read as
the kind they were, the impossible combinations are refused in one line before anything loads, and each
kind gets its own callbacks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers.configs import CONF
from omegaconf import OmegaConf, open_dict

from maeum.errors import MaeumError
from maeum.runs.kinds import KIND_CALLBACKS, KINDS, callback_keys, kind_of
from maeum.training.checks import check_run

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


@pytest.mark.unit
@pytest.mark.parametrize("model", MODELS)
def test_every_model_config_names_the_kind_of_its_module(train_cfg, model: str) -> None:
    cfg = train_cfg(f"model={model}")
    kind = kind_of(cfg)
    assert cfg.model.kind == kind.name and cfg.model._target_ == kind.module


@pytest.mark.unit
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("maeum.models.classifier.EmotionClassifier", "classify"),
        ("maeum.models.chat_lm.ChatLM", "chat"),
        ("maeum.models.pretrain.PretrainLM", "pretrain"),
    ],
)
def test_a_run_from_before_kinds_is_the_kind_of_its_module(target: str, expected: str) -> None:
    assert kind_of(OmegaConf.create({"model": {"_target_": target}})).name == expected


@pytest.mark.unit
def test_an_unknown_module_without_a_kind_and_an_unknown_kind_are_refused() -> None:
    with pytest.raises(MaeumError, match=r"model.kind is not set.*set model.kind to one of classify, chat"):
        kind_of({"model": {"_target_": "my_lab.MyModule"}})
    with pytest.raises(MaeumError, match=r"'ranking': choose one of classify, chat, preference, pretrain"):
        kind_of({"model": {"kind": "ranking"}})


@pytest.mark.unit
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (  # README's old domain-adaptive pretraining command: the default backbone is tiny_bert
            ["model=pretrain", "data=text/files", "data.path=corpus.txt"],
            r"^model.objective=causal needs a decoder backbone, and tiny_bert is an encoder\. causal fits a "
            r"decoder .*; masked fits an encoder",
        ),
        (
            [
                "model=pretrain",
                "model.objective=masked",
                "data=text/files",
                "data.path=x",
                "backbone=tiny_gpt2",
            ],
            r"^model.objective=masked needs an encoder backbone, and tiny_gpt2 is a decoder",
        ),
        (
            ["experiment=chatbot/sample_tiny", "backbone=tiny_bert"],
            r"^a chat run needs a decoder backbone, and tiny_bert is an encoder\. A chat run needs a decoder",
        ),
        (
            ["+data.template=chat_template"],
            r"^data.template: a classify run has no dialogues to lay out; drop data/template",
        ),
        (
            ["data=dialogue/sample"],
            r"^a classify run \(model.kind\) trains a ClassificationDataModule on its data, and "
            r"data._target_ is maeum.data.dialogue.datamodule.DialogueDataModule",
        ),
        (
            ["model.kind=chat"],
            r"^a chat run \(model.kind\) trains a ChatLM on its model",
        ),
    ],
)
def test_impossible_combinations_are_refused_in_one_line(
    train_cfg, overrides: list[str], message: str
) -> None:
    with pytest.raises(MaeumError, match=message) as refused:
        check_run(train_cfg(*overrides))
    assert "\n" not in str(refused.value)


@pytest.mark.unit
def test_train_refuses_before_anything_loads(train_cfg, tmp_path: Path, caplog) -> None:
    """Through `maeum-train`: one error line, and no run directory filled (no checkpoint, no config)."""
    from maeum.train import train

    cfg = train_cfg("model=pretrain", "data=text/files", "data.path='없는 말뭉치 (1).txt'")
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit):
        train(cfg)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "needs a decoder backbone" in errors[0].getMessage()
    assert not (tmp_path / "config.yaml").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.unit
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_gets_the_general_callbacks_and_only_its_own(kind: str) -> None:
    configured = [*OmegaConf.load(CONF / "callbacks" / "default.yaml")["defaults"][:-1], "save_pretrained"]
    kept = callback_keys(KINDS[kind], configured)
    assert set(kept) == (set(configured) - KIND_CALLBACKS) | (set(KINDS[kind].callbacks) & set(configured))
    assert all(c in kept for c in KINDS[kind].callbacks if c in configured)


@pytest.mark.unit
def test_a_checkpoint_of_a_pretraining_run_is_not_taken_for_a_classifier(train_cfg, tmp_path: Path) -> None:
    """The loaders ask the kind: a pretraining checkpoint gets one message, not a classifier's errors."""
    import torch

    from maeum.inference.loading import task_of
    from maeum.runs.files import RUN_KEY

    cfg = train_cfg("model=pretrain", "backbone=tiny_gpt2", "data=text/files", "data.path=x")
    with open_dict(cfg):
        cfg.hydra = None
    ckpt = tmp_path / "사전학습 (1).ckpt"
    torch.save({RUN_KEY: {"config": OmegaConf.to_container(cfg, resolve=False)}, "state_dict": {}}, ckpt)
    with pytest.raises(
        MaeumError, match=r"a checkpoint of a pretrain run, neither a classifier nor a chatbot"
    ):
        task_of(ckpt)
