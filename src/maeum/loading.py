"""Trained models from a `maeum-train` checkpoint (`.ckpt`) or a `maeum-export` directory, alike.

Every command that uses a trained model (predict, chat, demo, export) loads it here, so that a checkpoint
and its export answer identically.

* A **classifier** export is a `*ForSequenceClassification` directory that `transformers` loads with no
  maeum code: maeum's head (dropout + linear on the pooled `[CLS]` output) is exactly BERT's
  sequence-classification head, so the weights map one to one (`to_sequence_classification`). Its
  tokenizer is saved as a fast `tokenizer.json` (KoBERT's sentencepiece model included) with
  `model_max_length` set to the run's `max_length`, and `config.id2label` holds the label names.
* A **chatbot** export is the fine-tuned causal LM and its tokenizer.

Both carry `maeum.json`: what `transformers` has no field for (the dialogue template, `max_length`, the
conditions a chatbot was trained with, a classifier's response bank).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from hydra.utils import get_class
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from maeum.backbones import load_model, load_tokenizer
from maeum.callbacks import EXPORT_META, describe_directory, load_run_config
from maeum.data.dialogue import Template, template_from
from maeum.errors import MaeumError
from maeum.models.chat_lm import ChatLM
from maeum.models.classifier import EmotionClassifier

log = logging.getLogger(__name__)

Task = Literal["classifier", "chatbot"]
# sentences that an export is checked on: the exported model must give the checkpoint's logits
PROBE_TEXTS = (
    "오늘 너무 기뻐요 ㅎㅎ",
    "시험에 떨어져서 슬퍼요 ㅠㅠ",
    "내일 면접이라 떨려... 😢",
    "ㅋㅋㅋㅋ 진짜?",
)


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
    template: Template
    max_length: int
    conditions: list[str] | None = None  # the conditions seen in training, as written there
    condition_names: dict[str, str] = field(default_factory=dict)  # condition -> its name (ChatbotData ids)


def task_of(path: str | Path) -> Task:
    """Whether `path` (a checkpoint or an export) holds a classifier or a chatbot."""
    path = _existing(path)
    if path.is_dir():
        if task := _meta(path).get("task"):
            return task
        if not (path / "config.json").is_file():
            raise MaeumError(describe_directory(path))
        try:
            architectures = AutoConfig.from_pretrained(path).architectures or []
        except (OSError, ValueError) as err:
            raise MaeumError(f"{path}: not a model directory written by maeum-export ({err}).") from err
        return "classifier" if any("SequenceClassification" in a for a in architectures) else "chatbot"
    model_class = get_class(load_run_config(path).model._target_)
    if issubclass(model_class, EmotionClassifier):
        return "classifier"
    if issubclass(model_class, ChatLM):
        return "chatbot"
    raise MaeumError(f"{path}: a {model_class.__name__} checkpoint, neither a classifier nor a chatbot.")


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
            load_model(str(path), causal_lm=True).to(device).eval(), load_tokenizer(str(path)),
            template_from(meta.get("template", "chat")), meta.get("max_length", 128),
            _list(meta.get("conditions")), meta.get("condition_names") or {},
        )  # fmt: skip
    run_cfg = load_run_config(path)
    module = get_class(run_cfg.model._target_).load_from_checkpoint(
        path, map_location=device, pretrained=False
    )
    hparams = module.hparams
    return Chatbot(
        module.model.eval(), load_tokenizer(run_cfg.data.tokenizer), template_from(run_cfg.data.template),
        run_cfg.data.max_length, _list(hparams.get("conditions")), dict(hparams.get("condition_names") or {}),
    )  # fmt: skip


def export(path: str | Path, out: str | Path) -> Path:
    """Write the export of the checkpoint `path` to `out` (see the module docstring); return `out`."""
    out = Path(out).expanduser()
    if task_of(path) == "classifier":
        classifier = load_classifier(path)
        model = to_sequence_classification(classifier)
        tokenizer = copy.deepcopy(classifier.tokenizer)
        tokenizer.model_max_length = classifier.max_length  # pipeline(..., truncation=True) cuts like maeum
        meta = {"task": "classifier", "max_length": classifier.max_length}
        if classifier.response_bank:
            meta["response_bank"] = classifier.response_bank
    else:
        chatbot = load_chatbot(path)
        model, tokenizer = chatbot.model, chatbot.tokenizer
        meta = {"task": "chatbot", "template": asdict(chatbot.template), "max_length": chatbot.max_length,
                "conditions": chatbot.conditions, "condition_names": chatbot.condition_names}  # fmt: skip
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / EXPORT_META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def to_sequence_classification(classifier: Classifier) -> PreTrainedModel:
    """The `AutoModelForSequenceClassification` twin of a checkpoint's classifier, with the same weights.

    maeum's network is encoder → pooled `[CLS]` → dropout → linear, which is BERT's (KoBERT, KLUE-BERT,
    KcBERT) sequence-classification head. The twin is checked on probe sentences: it must give the same
    logits within 1e-5, else the backbone's head differs and the export is refused.
    """
    net = classifier.module.net if classifier.module is not None else None
    if net is None:
        raise MaeumError(
            "only a maeum-train checkpoint can be exported; this classifier is an export already."
        )
    encoder, labels = net.encoder, classifier.labels
    config = copy.deepcopy(encoder.config)
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    config.problem_type = "single_label_classification"
    config.classifier_dropout = net.dropout.p
    config.architectures = None
    model = AutoModelForSequenceClassification.from_config(config)
    head = getattr(model, "classifier", None)
    base = model.base_model
    mappable = (
        isinstance(head, nn.Linear)
        and type(base) is type(encoder)
        and getattr(base, "pooler", None) is not None
    )
    if not mappable:
        raise MaeumError(
            f"{type(model).__name__} classifies with another head than maeum's (dropout + linear on the "
            "pooled [CLS] output), so this backbone cannot be exported for transformers. maeum-predict and "
            "maeum-chat take the checkpoint itself."
        )
    base.load_state_dict(encoder.state_dict())
    head.load_state_dict(net.head.state_dict())
    model.eval()
    batch = classifier.tokenizer(list(PROBE_TEXTS) + labels, padding=True, return_tensors="pt")
    with torch.inference_mode():
        diff = (model(**batch).logits - net.eval()(**batch)).abs().max().item()
    if diff > 1e-5:
        raise MaeumError(f"the exported {type(model).__name__} differs from the checkpoint by {diff:.2e}.")
    return model


# ------------------------------------------------------------------------------------------------ internals
def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise MaeumError(
            f"not found: {path}. Give a .ckpt written by maeum-train or a directory written by maeum-export."
        )
    return path


def _expect(path: Path, task: Task, hint: str) -> None:
    if (found := task_of(path)) != task:
        raise MaeumError(f"{path}: a {found}, not a {task}; {hint}.")


def _meta(directory: Path) -> dict[str, Any]:
    file = directory / EXPORT_META
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def _list(values: Any) -> list[str] | None:
    return [str(v) for v in values] if values is not None else None
