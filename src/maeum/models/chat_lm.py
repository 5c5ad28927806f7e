"""Empathetic chatbot: a causal LM (KoGPT2, ...) fine-tuned on templated dialogues.

`ChatLM` trains with the model's own loss (labels of -100 are ignored, see `maeum.data.dialogue`), under
whichever label mask the data uses. Losses taken over different token sets cannot be compared, so it
also reports, whatever the mask, the perplexity and token accuracy over the final reply's text and its
`</s>` (`val/response_ppl`, `val/response_acc`, and the `test/` twins), computed on the plain layout
(in a chat template: the final assistant message and its end-of-turn tokens).

With `peft` (LoRA, `maeum.backbones.adapters`) only the adapters train; `quantization: nf4` is QLoRA.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from pytorch_lightning import LightningModule
from torch import Tensor
from torch.nn import functional as F  # noqa: N812
from torchmetrics import MeanMetric, MinMetric

from maeum.backbones import load_model, load_tokenizer
from maeum.backbones.adapters import add_adapters, quantization_config, trainable_counts
from maeum.backbones.embeddings import check_ids, grow_embeddings
from maeum.data.dialogue.records import IGNORE_INDEX
from maeum.errors import MaeumError
from maeum.models.checkpoint_mixins import BestSurvivesResume, FrozenBaseNotSaved
from maeum.models.optim import configure_optimizers, plain_dict

log = logging.getLogger(__name__)


class ChatLM(FrozenBaseNotSaved, BestSurvivesResume, LightningModule):
    """Fine-tunes a causal LM on dialogues and measures its replies.

    Args:
        backbone: name or path of the causal LM (`maeum.backbones.load_model(..., causal_lm=True)`).
        optimizer, scheduler, warmup_ratio: as for `EmotionClassifier` (`maeum.models.optim`).
        pretrained: load the backbone's weights; `False` when a checkpoint overwrites them anyway (ignored
            with `peft`: an adapter checkpoint does not hold the frozen base).
        conditions: the conditions of the training dialogues, as written there (from the DataModule);
            kept in the checkpoint, so that `maeum-chat` can pair the model with a classifier.
        condition_names: a condition's name where it differs (ChatbotData's ids: `{"1": "이별(부정)"}`).
        backbone_config, gradient_checkpointing: as for `EmotionClassifier`.
        peft: LoRA settings (`conf/model/peft/lora.yaml`), or None to train every weight.
        quantization: `nf4` loads the base in 4 bits for QLoRA (CUDA only), or None.
    """

    BEST = "val_response_ppl_best"  # val/*_best, kept across resumes (BestSurvivesResume)

    def __init__(
        self,
        backbone: str,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        warmup_ratio: float = 0.1,
        pretrained: bool = True,
        conditions: Sequence[str] | None = None,
        condition_names: Mapping[str, str] | None = None,
        backbone_config: Mapping[str, Any] | None = None,
        gradient_checkpointing: bool = False,
        peft: Mapping[str, Any] | str | None = None,
        quantization: str | None = None,
    ) -> None:
        super().__init__()
        optimizer = plain_dict(optimizer)
        scheduler = plain_dict(scheduler)
        conditions = [str(c) for c in conditions] if conditions is not None else None
        condition_names = {str(k): str(v) for k, v in (condition_names or {}).items()}
        backbone_config = plain_dict(backbone_config) or {}
        peft = plain_dict(peft) if isinstance(peft, Mapping) else peft
        if quantization and not peft:
            raise MaeumError("model.quantization=nf4 is QLoRA: it trains adapters, so add model/peft=lora")
        self.save_hyperparameters(logger=False)
        quantized = quantization_config(quantization)  # refused here, at start, without CUDA
        pretrained = pretrained or bool(peft)  # a checkpoint of adapters never holds the base
        model = load_model(backbone, causal_lm=True, pretrained=pretrained, **backbone_config, **quantized)
        if gradient_checkpointing:
            model.gradient_checkpointing_enable({"use_reentrant": False})
        self._resize_embeddings(model, backbone)
        self.model = add_adapters(
            model,
            peft,
            task_type="CAUSAL_LM",
            gradient_checkpointing=gradient_checkpointing,
            quantized=bool(quantized),
        )
        if peft:
            trainable, total = trainable_counts(self.model)
            log.info("LoRA: %d of %d parameters train (%.2f%%)", trainable, total, 100 * trainable / total)
        self.model.train()  # from_pretrained returns eval mode, and Lightning keeps the modes it finds
        self.metrics = torch.nn.ModuleDict(
            {
                f"{stage}_{name}": MeanMetric()
                for stage in ("val", "test")
                for name in ("loss", "response_nll", "response_acc")
            }
        )
        self.val_response_ppl_best = MinMetric()

    @staticmethod
    def _resize_embeddings(model: Any, backbone: str) -> None:
        """Grow the embeddings to the tokenizer's added tokens (before adapters: they are then frozen)."""
        grow_embeddings(model, len(load_tokenizer(backbone)), backbone)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor | None = None) -> Any:
        check_ids(input_ids, self.model)
        return self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self(batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["labels"])
        )
        return loss

    def _evaluate(self, batch: Mapping[str, Tensor], stage: str) -> dict[str, Tensor]:
        """Updates the stage's metrics; returns each dialogue's summed response NLL and response tokens."""
        n = len(batch["labels"])
        loss = self(batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
        self.metrics[f"{stage}_loss"].update(loss, weight=n)
        # position i predicts token i + 1: drop the last logit and the first label
        out = self(batch["response_input_ids"], batch["response_attention_mask"])
        logits = out.logits[:, :-1]  # (B, T, V) -> (B, T-1, V)
        target = batch["response_labels"][:, 1:]  # (B, T) -> (B, T-1)
        keep = target != IGNORE_INDEX  # (B, T-1)
        token_nll = F.cross_entropy(
            logits.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none"
        )  # (B, T-1), 0 where ignored
        row_nll = token_nll.sum(dim=1)  # (B,)
        row_tokens = keep.sum(dim=1)  # (B,)
        tokens = int(row_tokens.sum())
        if tokens:
            self.metrics[f"{stage}_response_nll"].update(row_nll.sum() / tokens, weight=tokens)
            correct = (logits.argmax(dim=-1) == target)[keep].float().mean()
            self.metrics[f"{stage}_response_acc"].update(correct, weight=tokens)
        return {"response_nll": row_nll.detach(), "response_tokens": row_tokens}

    def _log_stage(self, stage: str) -> Tensor:
        loss = self.metrics[f"{stage}_loss"].compute()
        ppl = torch.exp(self.metrics[f"{stage}_response_nll"].compute())
        acc = self.metrics[f"{stage}_response_acc"].compute()
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/response_ppl": ppl, f"{stage}/response_acc": acc}, prog_bar=True
        )
        for name in ("loss", "response_nll", "response_acc"):
            self.metrics[f"{stage}_{name}"].reset()
        return ppl

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self.val_response_ppl_best(self._log_stage("val"))
        self.log("val/response_ppl_best", self.val_response_ppl_best.compute())

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return self._evaluate(batch, "test")  # per dialogue, for ResponseReport's test_predictions.csv

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(
            self, self.hparams.optimizer, self.hparams.scheduler, self.hparams.warmup_ratio
        )
