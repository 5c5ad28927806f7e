"""A conversation with a trained model: what `maeum-chat` (REPL and `input=FILE`) and `maeum-demo` share.

A `ChatSession` keeps the history and the `/condition` override; a `Responder`
(`maeum.inference.responders`) answers one user turn. `load_responder` builds the right one from a
checkpoint or export (`maeum.inference.loading`), `responder_from` from a `conf/session` config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import seed_everything

from maeum.data.dialogue.layout import template_from
from maeum.data.dialogue.records import Turn
from maeum.errors import MaeumError
from maeum.inference.generation import ReplyGenerator
from maeum.inference.loading import Chatbot, load_chatbot, load_classifier, task_of
from maeum.inference.prediction import Predictor
from maeum.inference.responders import (
    FALLBACK,
    Answer,
    EmotionAwareResponder,
    GeneratorResponder,
    KnownConditions,
    Responder,
    RetrievalResponder,
)
from maeum.inference.retrieval import ResponseBank

COMMANDS = "/reset, /condition TEXT, /quit"


@dataclass
class ChatSession:
    """A conversation: the history so far, the condition, and the commands that change them.

    `history=False` answers each user turn alone; None takes the responder's default.
    """

    responder: Responder
    condition: str | None = None
    history: bool | None = None
    turns: list[Turn] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.condition = self.responder.known.resolve(self.condition or None)
        if self.history is None:
            self.history = self.responder.keeps_history

    def say(self, text: str) -> Answer:
        """The answer to one user turn, which joins the history with the reply."""
        turns = [*self.turns, Turn("usr", text)]
        answer = self.responder.respond(turns, self.condition)
        if self.history:
            self.turns = [*turns, Turn("sys", answer.reply)]
        return answer

    def command(self, line: str) -> str | None:
        """Run a `/command`; return what to tell the user, or None for `/quit`."""
        name, _, arg = line.partition(" ")
        if name == "/reset":
            self.turns = []
            return "(history cleared)"
        if name == "/condition":
            if not self.responder.uses_condition:
                return "(a retrieval chatbot takes no condition: its classifier picks the category)"
            try:
                self.condition = self.responder.known.resolve(arg.strip() or None)
            except MaeumError as err:  # the session goes on, under its condition so far
                return f"({err} The condition stays {self.condition or 'none'}.)"
            return f"(condition: {self.condition or 'none'})"
        if name == "/quit":
            return None
        return f"(unknown command {name}; commands: {COMMANDS})"


def load_responder(
    ckpt_path: str | Path,
    *,
    classifier_ckpt: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    device: str = "cpu",
    max_length: int | None = None,
    template: str | Mapping[str, Any] | None = None,
    seed: int | None = 0,
    min_confidence: float = 0.0,
    fallback: str = FALLBACK,
    batch_size: int = 32,
    precision: str = "32",
) -> Responder:
    """The responder for `ckpt_path` (a chatbot, or a classifier with a response bank), with
    `classifier_ckpt` in front of a chatbot; each may be a checkpoint or an export.

    Args:
        ckpt_path: a chatbot, or a classifier with a response bank (the retrieval chatbot).
        classifier_ckpt: a classifier whose predicted label conditions every reply of the chatbot.
        settings: `GenerationConfig` fields (`conf/generation/*.yaml`); greedy when None.
        device: where the models run (`cpu`, `cuda`).
        max_length: the longest history in tokens; None takes the training run's `data.max_length`.
        template: a `conf/data/template` name or its fields; None takes the training run's.
        seed: the retrieval chatbot's draws (and nothing else: sampling is seeded by the caller).
        min_confidence: retrieval only: below this probability, answer with `fallback`.
        fallback: the retrieval chatbot's answer when it is not confident or has no response.
        batch_size: the classifier's batch size.
        precision: "32", or "bf16" for bf16 autocast.
    """
    if task_of(ckpt_path) == "classifier":
        if classifier_ckpt:
            raise MaeumError(
                f"ckpt_path={ckpt_path} is a classifier: give the chatbot as ckpt_path and the classifier "
                "as classifier_ckpt."
            )
        classifier = load_classifier(ckpt_path, device)
        if not classifier.response_bank:
            raise MaeumError(
                f"{ckpt_path}: this classifier has no response bank, so it cannot answer by itself. Train it "
                "on a corpus with responses (data=classify/wellness, or data.reader.response_column=COLUMN), "
                f"or put it in front of a chatbot: maeum-chat ckpt_path=CHATBOT classifier_ckpt={ckpt_path}"
            )
        bank = ResponseBank(classifier.response_bank, seed)
        predictor = Predictor.from_classifier(classifier, precision=precision)
        return RetrievalResponder(predictor, bank, min_confidence, fallback)
    chatbot = load_chatbot(ckpt_path, device)
    generator = ReplyGenerator(
        chatbot.model,
        chatbot.tokenizer,
        max_length=max_length or chatbot.max_length,
        settings=settings,
        template=template_from(template) if template is not None else chatbot.template,
        batch_size=batch_size,
        precision=precision,
    )
    if not classifier_ckpt:
        return GeneratorResponder(generator, KnownConditions.of(chatbot))
    classifier = load_classifier(classifier_ckpt, device)
    condition_of = pair_conditions(classifier.labels, chatbot, f"{classifier_ckpt}", f"{ckpt_path}")
    predictor = Predictor.from_classifier(classifier, precision=precision)
    return EmotionAwareResponder(predictor, generator, condition_of, KnownConditions.of(chatbot))


def pair_conditions(
    labels: Sequence[str], chatbot: Chatbot, classifier_name: str, chatbot_name: str
) -> dict[str, str]:
    """classifier label -> the chatbot's condition with that name, or one error that lists both sets."""
    if chatbot.conditions is None:
        raise MaeumError(
            f"{chatbot_name} does not record the conditions it was trained with (it predates maeum's "
            "emotion-aware chat): train it again to pair it with a classifier."
        )
    known = KnownConditions.of(chatbot)
    by_name = known.by_name()
    if missing := [label for label in labels if label not in by_name]:
        shown = known.shown()
        raise MaeumError(
            f"the classifier's labels are not all among the chatbot's conditions, so its predictions cannot "
            f"condition the replies. Classifier {classifier_name}: {list(labels)}. Chatbot {chatbot_name}: "
            f"{shown or 'trained without conditions'}. Missing: {missing}. Pair models trained on the same "
            "label set (the main job with experiment=chatbot/sample_tiny; emotion/aihub_* with "
            "chatbot/aihub_emotion_*), or chat without classifier_ckpt."
        )
    return {label: by_name[label] for label in labels}


def responder_from(cfg: DictConfig, settings: Mapping[str, Any] | None = None) -> Responder:
    """The responder that `cfg` (`conf/session/default.yaml`) describes, generating with `settings`
    (default: `cfg.generation`)."""
    if cfg.get("seed") is not None:
        seed_everything(cfg.seed, verbose=False)  # reproducible sampling
    if settings is None:
        settings = OmegaConf.to_container(cfg.generation, resolve=True)
    return load_responder(
        cfg.ckpt_path,
        classifier_ckpt=cfg.get("classifier_ckpt"),
        settings=settings,
        device=cfg.device,
        max_length=cfg.get("max_length"),
        template=cfg.get("template"),
        seed=cfg.get("seed"),
        min_confidence=cfg.min_confidence,
        fallback=cfg.fallback,
        precision=cfg.precision,
    )
