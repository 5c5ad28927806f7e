"""Preference tuning of a chatbot: `PreferenceLM`, DPO (Rafailov et al., 2023) with the sigmoid loss, and an
optional SFT term on the chosen reply (RPO, Pang et al., 2024).

For a pair of replies to one prompt, with summed log-probabilities `logp` of each reply's target tokens
(`maeum.models.scoring`) under the model and under a frozen reference:

    reward(y) = beta * (logp_model(y) - logp_ref(y))
    loss      = -log sigmoid(reward(chosen) - reward(rejected))  [+ sft_weight * NLL per chosen token]

It logs what TRL's `DPOTrainer` logs, per stage: `rewards/chosen`, `rewards/rejected`, `rewards/margins`,
`rewards/accuracies` (the share of pairs whose chosen reward is higher), `logps/chosen`, `logps/rejected`
and the loss. Val and test also give every chatbot metric of `ChatLM` (`response_ppl`, ...), on the same
dialogues as an SFT run of the same data, so that both kinds of run pair in `maeum-leaderboard`.

The reference is the model as it starts (its backbone: usually an SFT run's export). Under LoRA it is the
same model with its adapters disabled, so the base weights are held once; otherwise it is a frozen copy of
the backbone, loaded on first use and never saved in checkpoints. Chosen and rejected rows go through the
model in one forward pass, as TRL does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor
from torch.nn import functional as F  # noqa: N812
from torchmetrics import MeanMetric

from maeum.backbones import load_model
from maeum.errors import MaeumError
from maeum.models.chat_lm import ChatLM
from maeum.models.optim import plain_dict
from maeum.models.scoring import sequence_logps

PAIR_METRICS = (
    "loss",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
)


def dpo_loss(
    chosen: Tensor, rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pair sigmoid DPO losses, and chosen and rejected rewards, from (B,) summed log-probabilities."""
    chosen_rewards = beta * (chosen - ref_chosen)
    rejected_rewards = beta * (rejected - ref_rejected)
    return -F.logsigmoid(chosen_rewards - rejected_rewards), chosen_rewards, rejected_rewards


class PreferenceLM(ChatLM):
    """A chatbot tuned on preference pairs (see the module docstring).

    Args:
        beta: DPO's temperature: how far the model may move from the reference (TRL's default 0.1).
        sft_weight: the weight of the SFT term (mean NLL per chosen token); 0 is plain DPO.
        disable_dropout: train without dropout (TRL's default): the reference runs without it, and with it
            the model's log-probabilities, so its rewards, would be noisy estimates of the same.
        backbone, optimizer, scheduler, warmup_ratio, pretrained, conditions, condition_names,
            backbone_config, gradient_checkpointing, peft, quantization: as for `ChatLM`.
    """

    def __init__(
        self,
        backbone: str,
        optimizer: Mapping[str, Any],
        beta: float = 0.1,
        sft_weight: float = 0.0,
        disable_dropout: bool = True,
        **kwargs: Any,
    ) -> None:
        if beta <= 0:
            raise MaeumError(f"model.beta must be above 0, not {beta}")
        if sft_weight < 0:
            raise MaeumError(f"model.sft_weight must be 0 or more, not {sft_weight}")
        # plain values in this frame too: `save_hyperparameters` reads every __init__ frame of the class chain
        optimizer = plain_dict(optimizer)
        kwargs = {
            k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig | ListConfig) else v
            for k, v in kwargs.items()
        }
        super().__init__(backbone, optimizer, **kwargs)
        if disable_dropout:  # as TRL's DPOTrainer: the model's rewards are read as the reference's are
            for module in self.model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
        self.beta = beta
        self.sft_weight = sft_weight
        self._frozen_reference: list[Any] = []  # a list: kept out of the module's children and state dict
        self.pair_metrics = torch.nn.ModuleDict(
            {_key(stage, name): MeanMetric() for stage in ("val", "test") for name in PAIR_METRICS}
        )

    # ------------------------------------------------------------------------------------------ reference
    @contextlib.contextmanager
    def _reference(self) -> Iterator[Any]:
        """The reference model: this one with its adapters disabled, or the frozen copy of the backbone."""
        if self.hparams.peft:
            with self.model.disable_adapter():
                yield self.model
            return
        if not self._frozen_reference:
            hp = self.hparams
            reference = load_model(hp.backbone, causal_lm=True, **(dict(hp.backbone_config or {})))
            self._resize_embeddings(reference, hp.backbone)
            reference.requires_grad_(False).eval()
            self._frozen_reference.append(reference)
        reference = self._frozen_reference[0]
        if reference.device != self.device:
            reference.to(self.device)
        yield reference

    def reference_parameters(self) -> int:
        """Parameters held for the reference beyond the model's own (0 under LoRA)."""
        if self.hparams.peft or not self._frozen_reference:
            return 0
        return sum(p.numel() for p in self._frozen_reference[0].parameters())

    # ------------------------------------------------------------------------------------------ the loss
    def pair_logps(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Summed log-probabilities of the chosen and rejected replies under the model and the reference,
        and the chosen replies' target counts, from one concatenated forward pass each."""
        ids, mask, labels = _concatenated(batch)
        n = len(batch["response_input_ids"])
        logps, counts = sequence_logps(self.model, ids, mask, labels)
        with torch.no_grad(), self._reference() as reference:
            was_training = reference.training
            reference.eval()
            ref_logps, _ = sequence_logps(reference, ids, mask, labels)
            reference.train(was_training)
        return {
            "chosen": logps[:n],
            "rejected": logps[n:],
            "ref_chosen": ref_logps[:n],
            "ref_rejected": ref_logps[n:],
            "chosen_tokens": counts[:n],
        }

    def pair_step(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The batch's mean loss and, per pair, what `PAIR_METRICS` averages."""
        lp = self.pair_logps(batch)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            lp["chosen"], lp["rejected"], lp["ref_chosen"], lp["ref_rejected"], self.beta
        )
        loss = losses.mean()
        if self.sft_weight:
            sft = -lp["chosen"].sum() / lp["chosen_tokens"].sum().clamp(min=1)
            loss = loss + self.sft_weight * sft
            losses = losses + self.sft_weight * sft
        per_pair = {
            "loss": losses.detach(),
            "rewards/chosen": chosen_rewards.detach(),
            "rewards/rejected": rejected_rewards.detach(),
            "rewards/margins": (chosen_rewards - rejected_rewards).detach(),
            "rewards/accuracies": (chosen_rewards > rejected_rewards).float(),
            "logps/chosen": lp["chosen"].detach(),
            "logps/rejected": lp["rejected"].detach(),
        }
        return loss, per_pair

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss, per_pair = self.pair_step(batch)
        n = len(batch["response_input_ids"])
        logged = {f"train/{name}": value.mean() for name, value in per_pair.items() if name != "loss"}
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=n)
        self.log_dict(logged, on_step=True, on_epoch=True, batch_size=n)
        return loss

    # ------------------------------------------------------------------------------------- val and test
    def _evaluate_pairs(self, batch: Mapping[str, Tensor], stage: str) -> None:
        keep = batch["pair"]
        if not bool(keep.any()):
            return
        kept = {k: v[keep] for k, v in batch.items() if k.startswith(("response_", "rejected_"))}
        _, per_pair = self.pair_step(kept)
        for name, values in per_pair.items():
            self.pair_metrics[_key(stage, name)].update(values)

    def _log_pairs(self, stage: str) -> None:
        for name in PAIR_METRICS:
            metric = self.pair_metrics[_key(stage, name)]
            if metric.update_count:
                # ChatLM's `{stage}/loss` is the LM loss of the dialogues: the DPO loss is `pairs/loss`
                self.log(f"{stage}/{'pairs/loss' if name == 'loss' else name}", metric.compute())
            metric.reset()

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        self._evaluate_pairs(batch, "val")

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_pairs("val")

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        out = super().test_step(batch, batch_idx)
        self._evaluate_pairs(batch, "test")
        return out

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._log_pairs("test")


def _key(stage: str, name: str) -> str:
    return f"{stage}_{name.replace('/', '_')}"


def _concatenated(batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """Chosen rows (`response_*`) then rejected rows (`rejected_*`), padded to one length: (2B, T)."""
    sides = [
        (batch["response_input_ids"], batch["response_attention_mask"], batch["response_labels"]),
        (batch["rejected_input_ids"], batch["rejected_attention_mask"], batch["rejected_labels"]),
    ]
    width = max(ids.shape[1] for ids, _, _ in sides)
    out = []
    for part, pad in ((0, 0), (1, 0), (2, -100)):
        out.append(
            torch.cat([F.pad(side[part], (0, width - side[part].shape[1]), value=pad) for side in sides])
        )
    return out[0], out[1], out[2]
