"""Emotion, sentiment and intent classification.

`SequenceClassifier` is the network (encoder → pooled `[CLS]` → dropout → linear) and `EmotionClassifier`
the LightningModule that trains it: loss, metrics, optimizer and schedule. The label names travel in the
checkpoint's hyperparameters and in the encoder config (`id2label`), never as bare integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from pytorch_lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from transformers import PreTrainedModel

from maeum.backbones import load_model, load_tokenizer
from maeum.backbones.adapters import add_adapters
from maeum.backbones.embeddings import grow_embeddings
from maeum.models.checkpoint_mixins import BestSurvivesResume, FrozenBaseNotSaved
from maeum.models.optim import configure_optimizers, plain_dict


class SequenceClassifier(nn.Module):
    """Encoder, then its pooled `[CLS]` output, then dropout, then `Linear(num_labels)`."""

    def __init__(self, encoder: PreTrainedModel, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, **inputs: Tensor) -> Tensor:
        """Logits for the tokenizer's outputs (`input_ids`, `attention_mask`, ...)."""
        out = self.encoder(**inputs)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:  # encoders without a pooler (ELECTRA, DistilBERT): the [CLS] hidden state
            pooled = out.last_hidden_state[:, 0]
        return self.head(self.dropout(pooled))


class EmotionClassifier(FrozenBaseNotSaved, BestSurvivesResume, LightningModule):
    """Fine-tunes an encoder as a classifier and reports accuracy and macro-F1 per stage.

    Args:
        backbone: name or path of the encoder (`maeum.backbones.load_model`).
        labels: label names; a label's id is its index.
        optimizer: `_partial_` Hydra config of the optimizer, see `maeum.models.optim`.
        scheduler: `_partial_` Hydra config of the LR schedule, or `None` for a constant LR.
        dropout: dropout on the pooled output (0.5, as in the KoBERT recipes).
        warmup_ratio: linear warmup over this fraction of all optimizer steps.
        class_weighted: weight the loss by inverse label frequency in the train split (`class_counts`),
            `n / (k * count)` as in scikit-learn's "balanced"; labels absent from training weigh 0.
        class_counts: train rows per label, from the DataModule.
        pretrained: load the backbone's weights; `False` when a checkpoint overwrites them anyway (ignored
            with `peft`: an adapter checkpoint does not hold the frozen base).
        response_bank: label -> responses of the train split, for the retrieval chatbot
            (`maeum.inference.retrieval`); kept in the checkpoint, unused in training.
        backbone_config: fields of the backbone's config to override (`hidden_dropout_prob: 0.0`, ...).
        gradient_checkpointing: recompute the backbone's activations in the backward pass instead of
            keeping them (`transformers`' gradient checkpointing): less memory, about a third more compute.
        peft: LoRA settings for the encoder (`conf/model/peft/lora.yaml`); the head still trains in full.
    """

    BEST = "val_f1_best"  # val/*_best, kept across resumes (BestSurvivesResume)

    def __init__(
        self,
        backbone: str,
        labels: Sequence[str],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        dropout: float = 0.5,
        warmup_ratio: float = 0.1,
        class_weighted: bool = False,
        class_counts: Sequence[int] | None = None,
        pretrained: bool = True,
        response_bank: Mapping[str, Sequence[str]] | None = None,
        backbone_config: Mapping[str, Any] | None = None,
        gradient_checkpointing: bool = False,
        peft: Mapping[str, Any] | str | None = None,
    ) -> None:
        super().__init__()
        if response_bank is not None:
            response_bank = {str(label): [str(r) for r in texts] for label, texts in response_bank.items()}
        # Plain containers, so that checkpoints load with torch.load(weights_only=True).
        labels = list(labels)
        optimizer = plain_dict(optimizer)
        scheduler = plain_dict(scheduler)
        class_counts = [int(c) for c in class_counts] if class_counts is not None else None
        backbone_config = plain_dict(backbone_config) or {}
        peft = plain_dict(peft) if isinstance(peft, Mapping) else peft
        self.save_hyperparameters(logger=False)
        pretrained = pretrained or bool(peft)  # a checkpoint of adapters never holds the base
        encoder = load_model(backbone, pretrained=pretrained, **backbone_config)
        if gradient_checkpointing:
            encoder.gradient_checkpointing_enable({"use_reentrant": False})
        grow_embeddings(encoder, len(load_tokenizer(backbone)), backbone)  # an extended tokenizer's tokens
        encoder.config.id2label = dict(enumerate(labels))
        encoder.config.label2id = {name: i for i, name in enumerate(labels)}
        encoder = add_adapters(
            encoder, peft, task_type="FEATURE_EXTRACTION", gradient_checkpointing=gradient_checkpointing
        )
        self.net = SequenceClassifier(encoder, len(labels), dropout)
        self.net.train()  # from_pretrained returns eval mode, and Lightning keeps the modes it finds
        self.criterion = nn.CrossEntropyLoss(weight=_class_weights(class_counts) if class_weighted else None)

        n = len(labels)
        metrics = MetricCollection(
            {"acc": MulticlassAccuracy(n, average="micro"), "f1_macro": MulticlassF1Score(n, average="macro")}
        )
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.val_f1_best = MaxMetric()

    @property
    def labels(self) -> list[str]:
        return list(self.hparams.labels)

    def forward(self, **inputs: Tensor) -> Tensor:
        return self.net(**inputs)

    def _shared_step(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        target = batch["labels"]
        logits = self(**inputs)
        return self.criterion(logits, target), logits.argmax(dim=-1), target

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss, preds, target = self._shared_step(batch)
        self.train_metrics.update(preds, target)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(target))
        self.log_dict(self.train_metrics, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        loss, preds, target = self._shared_step(batch)
        self.val_metrics.update(preds, target)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(target), sync_dist=True)
        self.log_dict(self.val_metrics, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.val_f1_best(self.val_metrics["f1_macro"].compute())
        self.log("val/f1_macro_best", self.val_f1_best.compute(), prog_bar=True)

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        target = batch["labels"]
        logits = self(**inputs)
        self.test_metrics.update(logits.argmax(dim=-1), target)
        loss = self.criterion(logits, target)
        self.log("test/loss", loss, on_epoch=True, batch_size=len(target), sync_dist=True)
        self.log_dict(self.test_metrics, on_epoch=True)
        return {"probs": torch.softmax(logits, dim=-1), "target": target}  # for ClassificationReport

    def predict_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return torch.softmax(self(**inputs), dim=-1)

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(
            self, self.hparams.optimizer, self.hparams.scheduler, self.hparams.warmup_ratio
        )


def _class_weights(counts: Sequence[int] | None) -> Tensor:
    if not counts:
        raise ValueError("class_weighted=True needs class_counts (the DataModule passes them)")
    counts_t = torch.tensor(counts, dtype=torch.float)
    weights = counts_t.sum() / (len(counts) * counts_t.clamp(min=1))
    return torch.where(counts_t > 0, weights, torch.zeros_like(weights))
