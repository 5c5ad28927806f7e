"""Exports for `transformers`: a checkpoint written as a directory that `from_pretrained` loads with no
maeum code.

* A **classifier** export is a `*ForSequenceClassification` directory: maeum's head (dropout + linear on the
  pooled `[CLS]` output) is exactly BERT's sequence-classification head, so the weights map one to one
  (`to_sequence_classification`). Its tokenizer is saved as a fast `tokenizer.json` (KoBERT's sentencepiece
  model included) with `model_max_length` set to the run's `max_length`, and `config.id2label` holds the
  label names.
* A **chatbot** export is the fine-tuned causal LM and its tokenizer.

Both carry `maeum.json`: what `transformers` has no field for (the dialogue template, `max_length`, the
conditions a chatbot was trained with, a classifier's response bank). `maeum.inference.loading` reads both.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    PreTrainedModel,
)

from maeum.errors import MaeumError
from maeum.inference.checkpoints import EXPORT_META
from maeum.inference.loading import Classifier, load_chatbot, load_classifier, task_of

# sentences that an export is checked on: the exported model must give the checkpoint's logits
PROBE_TEXTS = (
    "오늘 너무 기뻐요 ㅎㅎ",
    "시험에 떨어져서 슬퍼요 ㅠㅠ",
    "내일 면접이라 떨려... 😢",
    "ㅋㅋㅋㅋ 진짜?",
)


def write_export(path: str | Path, out: str | Path) -> Path:
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
        model = chatbot.model
        tokenizer = chatbot.tokenizer
        meta = {
            "task": "chatbot",
            "template": asdict(chatbot.template),
            "max_length": chatbot.max_length,
            "conditions": chatbot.conditions,
            "condition_names": chatbot.condition_names,
        }
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
    encoder = net.encoder
    labels = classifier.labels
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
