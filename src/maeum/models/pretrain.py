"""Pretraining objectives on raw text blocks (`maeum.data.text`): causal LM for GPT-2-family and other
causal backbones, masked LM (BERT's 15% and 80/10/10, chosen by the DataModule) for BERT-family ones.

`PretrainLM` trains from scratch (the backbone gives the architecture, the tokenizer the vocabulary) or
continues the pretraining of a backbone's weights (domain-adaptive pretraining). It logs `val/loss` (the
mean NLL per target token), `val/ppl` and `val/bpc`: the summed NLL in bits over the characters those
targets cover, which compares across tokenizers. `save_pretrained` writes a directory, model and
tokenizer, that any `backbone.name_or_path=` takes.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import LightningModule
from torch import Tensor
from torch.nn import functional as F  # noqa: N812
from torchmetrics import MinMetric, SumMetric
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, PreTrainedModel

from maeum.backbones import load_model, load_tokenizer, resolve
from maeum.backbones.embeddings import check_ids, grow_embeddings
from maeum.data.dialogue.records import IGNORE_INDEX
from maeum.data.text.blocks import OBJECTIVES
from maeum.errors import MaeumError
from maeum.models.checkpoint_mixins import BestSurvivesResume
from maeum.models.optim import configure_optimizers, plain_dict

log = logging.getLogger(__name__)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "spiece.model",
    "chat_template.jinja",
    "maeum_tokenizer.json",
)
ROLE_IDS = ("bos_token_id", "eos_token_id", "pad_token_id")


def build_model(
    backbone: str,
    tokenizer: str,
    objective: str,
    *,
    from_scratch: bool,
    weights: bool = True,
    backbone_config: Mapping[str, Any] | None = None,
) -> PreTrainedModel:
    """The model to pretrain: the backbone's architecture with the tokenizer's vocabulary and special ids
    (`from_scratch`; a `vocab_size` in `backbone_config` at least the tokenizer's pads the embeddings to
    it), or the backbone's weights (its shapes only, without `weights`) with the embeddings grown to the
    tokenizer."""
    tok = load_tokenizer(tokenizer)
    causal = objective == "causal"
    if not from_scratch:
        kwargs = dict(backbone_config or {})
        model = load_model(backbone, causal_lm=causal, masked_lm=not causal, pretrained=weights, **kwargs)
        grow_embeddings(model, len(tok), backbone)  # an extended tokenizer: new rows at the mean
        return model
    overrides = dict(backbone_config or {})
    padded = overrides.get("vocab_size")  # a padded vocabulary (nanoGPT's 50,304; KoGPT2's 51,200)
    if padded is not None and padded < len(tok):
        raise MaeumError(f"model.backbone_config.vocab_size={padded} is below the tokenizer's {len(tok)} ids")
    source, local_only = resolve(backbone)
    config = AutoConfig.from_pretrained(source, local_files_only=local_only, **overrides)
    config.vocab_size = max(len(tok), padded or 0)
    for role in ROLE_IDS:  # the tokenizer's, where the architecture has the field
        token_id = getattr(tok, role)
        if token_id is not None and hasattr(config, role):
            setattr(config, role, token_id)
    auto_class = AutoModelForCausalLM if causal else AutoModelForMaskedLM
    return auto_class.from_config(config)  # initialised from torch's RNG: seeded by maeum-train


class PretrainLM(BestSurvivesResume, LightningModule):
    """Pretrains a backbone on text blocks.

    Args:
        backbone: the architecture (and, unless `from_scratch`, the weights) to pretrain.
        objective: `causal` or `masked`; the DataModule's blocks and masks follow it.
        optimizer, scheduler, warmup_ratio: as for every maeum module (`maeum.models.optim`).
        tokenizer: the vocabulary (a `maeum-tokenizer` directory); default the backbone's. Set from the
            DataModule's `data.tokenizer`, so that the blocks' ids and the embeddings always agree.
        from_scratch: fresh weights of the backbone's architecture, sized to the tokenizer.
        backbone_config: overrides of the backbone's config (e.g. `{n_layer: 12}`).
        gradient_checkpointing: recompute activations in backward.
        pretrained: with `from_scratch=False`, load the backbone's weights; `False` when a checkpoint
            overwrites them anyway (`maeum-eval`).
    """

    BEST = "val_bpc_best"

    def __init__(
        self,
        backbone: str,
        objective: str,
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        warmup_ratio: float = 0.01,
        tokenizer: str | None = None,
        from_scratch: bool = True,
        backbone_config: Mapping[str, Any] | None = None,
        gradient_checkpointing: bool = False,
        pretrained: bool = True,
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise MaeumError(f"model.objective={objective!r}: choose one of {', '.join(OBJECTIVES)}")
        optimizer, scheduler = plain_dict(optimizer), plain_dict(scheduler)
        backbone_config = plain_dict(backbone_config) or {}
        tokenizer = tokenizer or backbone
        self.save_hyperparameters(logger=False)
        self.model = build_model(
            backbone,
            tokenizer,
            objective,
            from_scratch=from_scratch,
            weights=pretrained,
            backbone_config=backbone_config,
        )
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable({"use_reentrant": False})
        self.model.train()
        self.metrics = torch.nn.ModuleDict(
            {
                f"{stage}_{name}": SumMetric()
                for stage in ("val", "test")
                for name in ("nll", "tokens", "chars")
            }
        )
        self.val_bpc_best = MinMetric()
        self.register_buffer("tokens_seen", torch.zeros((), dtype=torch.long))  # in checkpoints: resumes
        params = sum(p.numel() for p in self.model.parameters())
        log.info("Pretraining %s (%s, %s): %d parameters", backbone, objective, tokenizer, params)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        block = getattr(datamodule, "block_size", None)
        config = self.model.config
        positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        if block is not None and positions is not None and block > positions:
            raise MaeumError(f"data.block_size={block} exceeds the model's {positions} positions: lower it")

    def forward(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor | None = None) -> Any:
        check_ids(input_ids, self.model)
        return self.model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self(batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
        self.tokens_seen += batch["attention_mask"].sum() * self.trainer.world_size
        self.log("train/tokens_seen", self.tokens_seen.float(), on_step=True, on_epoch=False)
        self.log(
            "train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["input_ids"])
        )
        return loss

    def _evaluate(self, batch: Mapping[str, Tensor], stage: str) -> None:
        logits = self(batch["input_ids"], batch["attention_mask"]).logits
        labels, chars = batch["labels"], batch["chars"]
        if self.hparams.objective == "causal":  # position t predicts token t + 1
            logits, labels, chars = logits[:, :-1], labels[:, 1:], chars[:, 1:]
        nll = F.cross_entropy(
            logits.transpose(1, 2).float(), labels, ignore_index=IGNORE_INDEX, reduction="sum"
        )
        keep = labels != IGNORE_INDEX
        self.metrics[f"{stage}_nll"].update(nll)
        self.metrics[f"{stage}_tokens"].update(keep.sum())
        self.metrics[f"{stage}_chars"].update(chars[keep].sum())

    def _log_stage(self, stage: str) -> Tensor:
        nll, tokens, chars = (self.metrics[f"{stage}_{n}"].compute() for n in ("nll", "tokens", "chars"))
        loss = nll / tokens.clamp(min=1)
        bpc = nll / math.log(2) / chars.clamp(min=1)
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/ppl": torch.exp(loss), f"{stage}/bpc": bpc}, prog_bar=True
        )
        self.log(f"{stage}/tokens", tokens.float())
        for name in ("nll", "tokens", "chars"):
            self.metrics[f"{stage}_{name}"].reset()
        return bpc

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self.val_bpc_best(self._log_stage("val"))
        self.log("val/bpc_best", self.val_bpc_best.compute())

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")

    def configure_optimizers(self) -> dict[str, Any]:
        return configure_optimizers(
            self, self.hparams.optimizer, self.hparams.scheduler, self.hparams.warmup_ratio
        )

    def save_pretrained(self, directory: str | Path) -> Path:
        """The model (`save_pretrained`, with the architecture's dropout rates) and its tokenizer's files
        in `directory`: a backbone directory."""
        out = Path(directory)
        source, local_only = resolve(self.hparams.backbone)
        base = AutoConfig.from_pretrained(source, local_files_only=local_only)
        config = self.model.config
        # dropout switched off for pretraining is how it ran, not what the model is: fine-tuning from the
        # directory gets the architecture's own rates, as fine-tuning the backbone itself does
        changed = {k: getattr(config, k) for k in self.hparams.backbone_config or {} if "drop" in k}
        for key in changed:
            setattr(config, key, getattr(base, key, changed[key]))
        try:
            self.model.save_pretrained(out)
        finally:
            for key, value in changed.items():
                setattr(config, key, value)
        source = Path(resolve(self.hparams.tokenizer)[0])
        if source.is_dir():  # the files as trained (KoBERT's spiece.model stays one)
            for name in TOKENIZER_FILES:
                if (source / name).is_file():
                    shutil.copy2(source / name, out / name)
        else:
            load_tokenizer(self.hparams.tokenizer).save_pretrained(out)
        log.info("Saved the pretrained backbone in %s (backbone.name_or_path=%s)", out, out)
        return out
