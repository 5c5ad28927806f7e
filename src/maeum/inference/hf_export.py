"""Exports for `transformers`: a checkpoint written as a directory that `from_pretrained` loads with no
maeum code.

* A **classifier** export is a `*ForSequenceClassification` directory: maeum's head (dropout + linear on the
  pooled `[CLS]` output) is exactly BERT's sequence-classification head, so the weights map one to one
  (`to_sequence_classification`). Its tokenizer is saved as a fast `tokenizer.json` (KoBERT's sentencepiece
  model included) with `model_max_length` set to the run's `max_length`, and `config.id2label` holds the
  label names.
* A **chatbot** export is the fine-tuned causal LM and its tokenizer (with its chat template, when it
  was trained in one). A LoRA chatbot is merged into its base (`merge_and_unload`, checked: the merged
  model's logits equal the adapter model's within 1e-5); with `merge=False` the export is the adapter
  alone (`adapter_config.json`, `adapter_model.safetensors`), which `PeftModel.from_pretrained` loads on
  the base, and `maeum.json` names the base and a fingerprint of its weights, checked on loading.

Both carry `maeum.json`: what `transformers` has no field for (the dialogue template, `max_length`, the
conditions a chatbot was trained with, a classifier's response bank). `maeum.inference.loading` reads both.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    PreTrainedModel,
)

from maeum.backbones.adapters import base_fingerprint, is_adapted
from maeum.data.dialogue.layout import layout_for, template_fields
from maeum.errors import MaeumError
from maeum.inference.checkpoints import load_run_config
from maeum.inference.loading import Chatbot, Classifier, load_chatbot, load_classifier, task_of
from maeum.runs.files import EXPORT_META

# sentences that an export is checked on: the exported model must give the checkpoint's logits
PROBE_TEXTS = (
    "오늘 너무 기뻐요 ㅎㅎ",
    "시험에 떨어져서 슬퍼요 ㅠㅠ",
    "내일 면접이라 떨려... 😢",
    "ㅋㅋㅋㅋ 진짜?",
)


def write_export(path: str | Path, out: str | Path, *, merge: bool = True) -> Path:
    """Write the export of the checkpoint `path` to `out` (see the module docstring); return `out`."""
    out = Path(out).expanduser()
    if task_of(path) == "classifier":
        if not merge:
            raise MaeumError("merge=false exports a chatbot's adapter alone; a classifier is exported merged")
        classifier = load_classifier(path)
        model = to_sequence_classification(classifier)
        tokenizer = copy.deepcopy(classifier.tokenizer)
        tokenizer.model_max_length = classifier.max_length  # pipeline(..., truncation=True) cuts like maeum
        meta = {"kind": "classify", "task": "classifier", "max_length": classifier.max_length}
        if classifier.response_bank:
            meta["response_bank"] = classifier.response_bank
    else:
        chatbot = load_chatbot(path)
        model = chatbot.model
        tokenizer = layout_for(chatbot.template, chatbot.tokenizer).exported_tokenizer()
        meta = {
            "kind": "chat",
            "task": "chatbot",  # what maeum before run kinds reads
            "template": template_fields(chatbot.template),
            "max_length": chatbot.max_length,
            "conditions": chatbot.conditions,
            "condition_names": chatbot.condition_names,
        }
        if is_adapted(model) and not merge:
            meta["base_model"] = str(load_run_config(path).model.backbone)
            meta["base_fingerprint"] = base_fingerprint(model)
        elif is_adapted(model):
            model = merged(chatbot)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / EXPORT_META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


def merged(chatbot: Chatbot) -> PreTrainedModel:
    """The chatbot's LoRA model merged into its base, checked on a probe dialogue: the merged logits must
    equal the adapter model's within 1e-5."""
    probe = chatbot.tokenizer(list(PROBE_TEXTS), padding=True, return_tensors="pt")
    model = chatbot.model.eval()
    with torch.inference_mode():
        before = model(**probe).logits
        plain = model.merge_and_unload()
        diff = (plain.eval()(**probe).logits - before).abs().max().item()
    if diff > 1e-5:
        raise MaeumError(
            f"the merged model differs from the adapter model by {diff:.2e}: export with merge=false"
        )
    return plain


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
    adapted = is_adapted(net.encoder)
    encoder = net.encoder.get_base_model() if adapted else net.encoder  # its class and config
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
    batch = classifier.tokenizer(list(PROBE_TEXTS) + labels, padding=True, return_tensors="pt")
    with torch.inference_mode():
        reference = net.eval()(**batch)  # before any LoRA merge
    if adapted:
        encoder = net.encoder.merge_and_unload()
    base.load_state_dict(encoder.state_dict())
    head.load_state_dict(net.head.state_dict())
    model.eval()
    with torch.inference_mode():
        diff = (model(**batch).logits - reference).abs().max().item()
    if diff > 1e-5:
        raise MaeumError(f"the exported {type(model).__name__} differs from the checkpoint by {diff:.2e}.")
    return model
