"""Trained models from a `maeum-train` checkpoint (`.ckpt`) or a `maeum-export` directory, alike.

Every command that uses a trained model (predict, chat, demo, export) loads it here, so that a checkpoint
and its export answer identically.

What an export holds is described in `maeum.inference.hf_export`, which writes it. A LoRA checkpoint
(`model.peft`) holds the adapters only: its module loads the base from the backbone it names. An adapter-only
export (`maeum-export merge=false`) is loaded on its base with `PeftModel.from_pretrained`, after the
base's weights are checked against the fingerprint that the export recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hydra.utils import get_class
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from maeum.backbones import load_model, load_tokenizer
from maeum.backbones.adapters import base_fingerprint
from maeum.data.dialogue.layout import template_from
from maeum.errors import MaeumError
from maeum.inference.checkpoints import describe_directory, load_run_config
from maeum.models.classifier import EmotionClassifier
from maeum.runs.files import EXPORT_META
from maeum.runs.kinds import KINDS, Kind, kind_of

ExportKind = Literal["classifier", "chatbot"]  # what a checkpoint or export holds (`Kind.exports`)


@dataclass
class Classifier:
    """A trained classifier ready for inference: `model(**tokenizer(texts))` gives logits (or `.logits`)."""

    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    labels: list[str]
    max_length: int
    response_bank: dict[str, list[str]] | None = None  # label -> responses (the retrieval chatbot)
    module: EmotionClassifier | None = None  # the LightningModule, when loaded from a checkpoint


@dataclass
class Chatbot:
    """A fine-tuned causal LM with what it needs to answer like in training."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    template: Any  # a dialogue template (maeum.data.dialogue.layout)
    max_length: int
    conditions: list[str] | None = None  # the conditions seen in training, as written there
    condition_names: dict[str, str] = field(default_factory=dict)  # condition -> its name (ChatbotData ids)


def task_of(path: str | Path) -> ExportKind:
    """Whether `path` (a checkpoint or an export) holds a classifier or a chatbot: by its kind
    (`maeum.runs.kinds`), which a checkpoint's run config and an export's `maeum.json` name."""
    path = _existing(path)
    if path.is_dir():
        meta = _meta(path)
        if name := meta.get("kind"):
            return _exported(KINDS[name], path) if name in KINDS else _unknown_kind(name, path)
        if task := meta.get("task"):  # exports written before `kind`
            return task
        if not (path / "config.json").is_file():
            raise MaeumError(describe_directory(path))
        try:
            architectures = AutoConfig.from_pretrained(path).architectures or []
        except (OSError, ValueError) as err:
            raise MaeumError(f"{path}: not a model directory written by maeum-export ({err}).") from err
        return "classifier" if any("SequenceClassification" in a for a in architectures) else "chatbot"
    kind = kind_of(load_run_config(path))
    if kind.exports is None:
        raise MaeumError(
            f"{path}: a checkpoint of a {kind.name} run, neither a classifier nor a chatbot. A pretraining "
            "run leaves a backbone directory (its pretrained/ folder: backbone.name_or_path=DIR fine-tunes "
            "it); maeum-eval ckpt_path=... re-tests the checkpoint."
        )
    return kind.exports


def _exported(kind: Kind, path: Path) -> ExportKind:
    if kind.exports is None:
        raise MaeumError(f"{path}: an export of a {kind.name} run, neither a classifier nor a chatbot.")
    return kind.exports


def _unknown_kind(name: str, path: Path) -> ExportKind:
    raise MaeumError(
        f"{path}: maeum.json names the kind {name!r}, which this maeum does not know: upgrade maeum."
    )


def load_classifier(path: str | Path, device: str = "cpu") -> Classifier:
    """A classifier from a checkpoint or an export (see the module docstring)."""
    path = _existing(path)
    _expect(path, "classifier", "maeum-predict and classifier_ckpt= take classifiers")
    if path.is_dir():
        meta = _meta(path)
        model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        tokenizer = load_tokenizer(str(path))
        max_length = meta.get("max_length", tokenizer.model_max_length)
        return Classifier(model, tokenizer, labels, max_length, meta.get("response_bank"))
    run_cfg = load_run_config(path)
    module = get_class(run_cfg.model._target_).load_from_checkpoint(
        path, map_location=device, pretrained=False
    )
    module.eval()
    bank = module.hparams.get("response_bank")
    bank = {label: list(texts) for label, texts in bank.items()} if bank else None
    tokenizer = load_tokenizer(run_cfg.data.tokenizer)
    return Classifier(module.net, tokenizer, module.labels, run_cfg.data.max_length, bank, module)


def load_chatbot(path: str | Path, device: str = "cpu") -> Chatbot:
    """A chatbot from a checkpoint or an export (see the module docstring)."""
    path = _existing(path)
    _expect(path, "chatbot", "ckpt_path= of maeum-chat with classifier_ckpt=, and maeum-demo, take chatbots")
    if path.is_dir():
        meta = _meta(path)
        return Chatbot(
            _export_model(path, meta).to(device).eval(),
            load_tokenizer(str(path)),
            template_from(meta.get("template", "chat")),
            meta.get("max_length", 128),
            _list(meta.get("conditions")),
            meta.get("condition_names") or {},
        )
    run_cfg = load_run_config(path)
    module = get_class(run_cfg.model._target_).load_from_checkpoint(
        path, map_location=device, pretrained=False
    )
    hparams = module.hparams
    return Chatbot(
        module.model.eval(),
        load_tokenizer(run_cfg.data.tokenizer),
        template_from(run_cfg.data.template),
        run_cfg.data.max_length,
        _list(hparams.get("conditions")),
        dict(hparams.get("condition_names") or {}),
    )


# ------------------------------------------------------------------------------------------------ internals
def _export_model(path: Path, meta: dict[str, Any]) -> PreTrainedModel:
    """The causal LM of an export: the model itself, or an adapter on the base it was trained on."""
    if not (path / "adapter_config.json").is_file():
        return load_model(str(path), causal_lm=True)
    from peft import PeftModel

    name = meta.get("base_model")
    if not name:
        raise MaeumError(
            f"{path}: an adapter without the maeum.json that names its base (maeum-export writes it)"
        )
    base = load_model(name, causal_lm=True)
    if (found := base_fingerprint(base)) != meta.get("base_fingerprint"):
        raise MaeumError(
            f"{path}: this adapter was trained on a base '{name}' with weights"
            f" {meta.get('base_fingerprint')}, and '{name}' here has other weights ({found}): load it on"
            " the base it was trained on, or export the run merged (maeum-export without merge=false)."
        )
    return PeftModel.from_pretrained(base, path)


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise MaeumError(
            f"not found: {path}. Give a .ckpt written by maeum-train or a directory written by maeum-export."
        )
    return path


def _expect(path: Path, task: ExportKind, hint: str) -> None:
    if (found := task_of(path)) != task:
        raise MaeumError(f"{path}: a {found}, not a {task}; {hint}.")


def _meta(directory: Path) -> dict[str, Any]:
    file = directory / EXPORT_META
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def _list(values: Any) -> list[str] | None:
    return [str(v) for v in values] if values is not None else None
