"""The run kinds: one registry that says what follows from what a run is.

Every run says what it is in its config (`model.kind`: `classify`, `chat`, `preference` or `pretrain`), and
so do its checkpoints (the run config inside them) and its exports (`maeum.json`). What follows from the
kind is read here, never guessed from a config key, a class or a file name: the LightningModule and the
DataModule it takes, the backbone it needs (an encoder, or a decoder whose tokens never see ahead), whether
its data has a dialogue layout, its kind-specific callbacks, what `maeum-export` writes of it, and which
leaderboard ranks it. `kind_of` reads a run's kind, and derives it once for runs written before kinds were
(from the module that the run config names).

A new kind is one `Kind` here, a LightningModule, and a model config that names the kind
(docs/development.md); `preference` (DPO on preference pairs) was added so.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from maeum.errors import MaeumError

ENCODER, DECODER = "encoder", "decoder"  # what a backbone is (`maeum.backbones.architecture`)


@dataclass(frozen=True)
class Kind:
    name: str
    module: str  # the LightningModule (a subclass runs as the same kind)
    data: str  # the DataModule it trains on (or a subclass)
    backbone: str | None  # ENCODER, DECODER, or None: any backbone
    objectives: Mapping[str, str] = field(default_factory=dict)  # model.objective -> the backbone it needs
    layout: bool = False  # its data lays dialogues out (`data.template`)
    callbacks: tuple[str, ...] = ()  # the callbacks (keys of `callbacks:`) only this kind gets
    exports: str | None = None  # what maeum-export and the inference loaders make of it
    baseline: bool = False  # tested next to the majority-class baseline
    leaderboard: bool = True  # maeum-leaderboard ranks its runs
    ranks_as: str | None = None  # the kind whose board ranks it (None: its own), beside that kind's runs

    def needs(self, model: Mapping[str, Any]) -> str | None:
        """The backbone this run's model config needs (`ENCODER`, `DECODER` or None)."""
        if self.objectives:
            return self.objectives.get(str(model.get("objective")), self.backbone)
        return self.backbone


# what every chatbot's run writes and reports (a preference-tuned chatbot's too)
CHAT_CALLBACKS = ("response_report", "test_generations", "reply_selection", "generation_samples")
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="classify",
            module="maeum.models.classifier.EmotionClassifier",
            data="maeum.data.classify.datamodule.ClassificationDataModule",
            backbone=None,
            callbacks=("classification_report",),
            exports="classifier",
            baseline=True,
        ),
        Kind(
            name="chat",
            module="maeum.models.chat_lm.ChatLM",
            data="maeum.data.dialogue.datamodule.DialogueDataModule",
            backbone=DECODER,
            layout=True,
            callbacks=CHAT_CALLBACKS,
            exports="chatbot",
        ),
        Kind(
            name="preference",
            module="maeum.models.preference.PreferenceLM",
            data="maeum.data.preference.datamodule.PreferenceDataModule",
            backbone=DECODER,
            layout=True,
            callbacks=CHAT_CALLBACKS,
            exports="chatbot",
            ranks_as="chat",
        ),
        Kind(
            name="pretrain",
            module="maeum.models.pretrain.PretrainLM",
            data="maeum.data.text.datamodule.TextDataModule",
            backbone=None,
            objectives={"causal": DECODER, "masked": ENCODER},
            callbacks=("save_pretrained",),
            leaderboard=False,
        ),
    )
}
KIND_CALLBACKS = frozenset(c for kind in KINDS.values() for c in kind.callbacks)


def kind_of(cfg: Mapping[str, Any]) -> Kind:
    """The kind of a run, from its config (a train config, a run's `config.yaml`, a checkpoint's config):
    `model.kind`, or for runs written before it, the module its `model._target_` names."""
    model = cfg.get("model") or {}
    name = model.get("kind")
    if name is None:
        target = str(model.get("_target_", ""))
        found = [kind for kind in KINDS.values() if target == kind.module]
        if not found:
            raise MaeumError(
                f"model.kind is not set and model._target_={target or '(none)'} is none of maeum's modules: "
                f"set model.kind to one of {', '.join(KINDS)} in the model config."
            )
        return found[0]
    if name not in KINDS:
        raise MaeumError(f"model.kind={name!r}: choose one of {', '.join(KINDS)}")
    return KINDS[name]


def callback_keys(kind: Kind, keys: list[str]) -> list[str]:
    """The configured callbacks this kind gets: every general one, and of the kind-specific ones its own."""
    return [key for key in keys if key not in KIND_CALLBACKS or key in kind.callbacks]


def model_config(cfg: Any) -> Any:
    """The model config to instantiate: the run's `model` (its interpolations resolving against the whole
    config) without `kind`, which is the run's, not a parameter of the module."""
    from omegaconf import open_dict

    node = copy.copy(cfg.model)
    with open_dict(node):
        node.pop("kind", None)
    return node
