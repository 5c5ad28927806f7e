"""What answers a user turn: `Answer`, the `Responder` interface and its three implementations.

* `GeneratorResponder`: a fine-tuned causal LM (`maeum.inference.generation`), conditioned on `condition=`;
* `EmotionAwareResponder`: a classifier in front of the generator. Every user turn is classified first,
  and the predicted label is the generator's condition for that reply (`/condition TEXT` overrides it);
* `RetrievalResponder`: the wellness chatbot. A classifier with a response bank answers with a response
  of the predicted category (`maeum.inference.retrieval`), or with a fallback sentence below `min_confidence`.

`maeum.inference.session.load_responder` builds the right one from a checkpoint or export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from maeum.data.dialogue.records import Dialogue, Turn
from maeum.errors import MaeumError
from maeum.inference.generation import ReplyGenerator
from maeum.inference.loading import Chatbot
from maeum.inference.prediction import Predictor
from maeum.inference.retrieval import ResponseBank

FALLBACK = "잘 이해하지 못했어요. 조금 더 자세히 말씀해 주시겠어요?"


@dataclass(frozen=True)
class Answer:
    """One answered user turn.

    `record` is its JSON line (`output_format=jsonl`): `user`, `reply` and the responder's own keys;
    `probs` the classifier's probabilities, if any; `tag` what the REPL shows before the reply.
    """

    record: dict[str, Any]
    probs: dict[str, float] | None = None
    tag: str | None = None

    @property
    def reply(self) -> str:
        return self.record["reply"]


@dataclass(frozen=True)
class KnownConditions:
    """The conditions a chatbot was trained on, as written there (None: a chatbot that recorded none), and
    their names (`condition -> name`, where the data conditions on ids: ChatbotData with `condition=id`)."""

    conditions: tuple[str, ...] | None = None
    names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, chatbot: Chatbot) -> KnownConditions:
        conditions = tuple(chatbot.conditions) if chatbot.conditions is not None else None
        return cls(conditions, dict(chatbot.condition_names))

    def shown(self) -> list[str]:
        return [f"{c} ({self.names[c]})" if c in self.names else c for c in self.conditions or ()]

    def by_name(self) -> dict[str, str]:
        """name (the condition itself where it has none) -> condition."""
        return {self.names.get(c, c): c for c in self.conditions or ()}

    def resolve(self, condition: str | None) -> str | None:
        """`condition` as the chatbot was trained on it (a name stands for its id), or one `MaeumError` that
        lists the known ones: a condition never seen in training conditions nothing, silently."""
        if condition is None or self.conditions is None or condition in self.conditions:
            return condition
        if (named := self.by_name().get(condition)) is not None:
            return named
        known = ", ".join(self.shown()) or "none: it was trained without conditions, so give none"
        raise MaeumError(f"the chatbot was never trained on the condition '{condition}'. It knows: {known}.")


class Responder(Protocol):
    """Answers the last user turn of `turns`; `condition` is the session's (`condition=`, `/condition`)."""

    uses_condition: bool  # whether a condition means anything to it
    keeps_history: bool  # the default of `history=`
    known: KnownConditions  # what `condition` may be

    def respond(self, turns: Sequence[Turn], condition: str | None) -> Answer: ...

    def with_generation(self, settings: Mapping[str, Any]) -> Responder: ...


class GeneratorResponder:
    """A chatbot alone: the reply to the dialogue so far, under the session's condition."""

    uses_condition = True

    def __init__(self, generator: ReplyGenerator, known: KnownConditions | None = None) -> None:
        self.generator = generator
        self.known = known or KnownConditions()
        self.keeps_history = not generator.layout.generates_condition  # label_response answers one line

    def respond(self, turns: Sequence[Turn], condition: str | None) -> Answer:
        (reply,) = self.generator.generate([Dialogue(turns, condition)])
        record = {"user": turns[-1].text, "reply": reply.text, "condition": reply.condition or condition}
        return Answer(record, tag=reply.condition)  # label_response models write their category

    def with_generation(self, settings: Mapping[str, Any]) -> GeneratorResponder:
        return GeneratorResponder(self.generator.with_settings(settings), self.known)


class EmotionAwareResponder:
    """A classifier in front of a chatbot: each user turn's predicted label conditions its reply.

    Args:
        condition_of: classifier label -> the chatbot's condition for it (`pair_conditions`).
    """

    uses_condition = True

    def __init__(
        self,
        predictor: Predictor,
        generator: ReplyGenerator,
        condition_of: Mapping[str, str],
        known: KnownConditions | None = None,
    ) -> None:
        self.predictor = predictor
        self.generator = generator
        self.condition_of = dict(condition_of)
        self.known = known or KnownConditions()
        self.keeps_history = not generator.layout.generates_condition

    def respond(self, turns: Sequence[Turn], condition: str | None) -> Answer:
        (prediction,) = self.predictor.predict([turns[-1].text])
        emotion = prediction["label"]
        probs = prediction["probs"]
        used = condition or self.condition_of[emotion]  # `/condition TEXT` overrides the classifier
        (reply,) = self.generator.generate([Dialogue(turns, used)])
        record = {
            "user": turns[-1].text,
            "reply": reply.text,
            "emotion": emotion,
            "emotion_prob": probs[emotion],
            "condition": used,
        }
        return Answer(record, probs, tag=f"{emotion} {probs[emotion]:.2f}")

    def with_generation(self, settings: Mapping[str, Any]) -> EmotionAwareResponder:
        return EmotionAwareResponder(
            self.predictor, self.generator.with_settings(settings), self.condition_of, self.known
        )


class RetrievalResponder:
    """The wellness chatbot: a response of the predicted category, or `fallback` below `min_confidence`
    (and for a category whose training rows had no response)."""

    uses_condition = False
    keeps_history = False
    known = KnownConditions()

    def __init__(
        self, predictor: Predictor, bank: ResponseBank, min_confidence: float = 0.0, fallback: str = FALLBACK
    ) -> None:
        self.predictor = predictor
        self.bank = bank
        self.min_confidence = min_confidence
        self.fallback = fallback

    def respond(self, turns: Sequence[Turn], condition: str | None) -> Answer:
        (prediction,) = self.predictor.predict([turns[-1].text])
        category = prediction["label"]
        probs = prediction["probs"]
        reply = self.bank.draw(category) if probs[category] >= self.min_confidence else None
        record = {
            "user": turns[-1].text,
            "reply": reply or self.fallback,
            "category": category,
            "category_prob": probs[category],
            "fallback": reply is None,
        }
        return Answer(record, probs, tag=f"{category} {probs[category]:.2f}" + " fallback" * (reply is None))

    def with_generation(self, settings: Mapping[str, Any]) -> RetrievalResponder:
        return self  # nothing is generated
