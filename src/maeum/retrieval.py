"""The retrieval chatbot (the original wellness chatbot): answer with a response of the predicted category.

A classifier trained on a corpus with a response column (`data=classify/wellness`: 유저 → 구분, responses
from 챗봇) keeps a response bank: for every label, the distinct responses of its training rows,
whitespace-normalised. The bank is built from the training split only, so no validation or test response
leaks into the chatbot, and it travels in the checkpoint and in the export.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

from maeum.data.records import Example
from maeum.data.splits import normalize_text


def build_response_bank(examples: Iterable[Example], labels: Sequence[str]) -> dict[str, list[str]] | None:
    """label → its distinct non-empty responses, in first-seen order; None when no example has one."""
    bank: dict[str, dict[str, None]] = {label: {} for label in labels}
    for example in examples:
        if response := normalize_text(example.response):
            bank[example.label][response] = None
    if not any(bank.values()):
        return None
    return {label: list(responses) for label, responses in bank.items()}


class ResponseBank:
    """Draws a response of a category with its own seeded RNG (`seed=`), so a session is reproducible."""

    def __init__(self, responses: Mapping[str, Sequence[str]], seed: int | None = 0) -> None:
        self.responses = {label: list(texts) for label, texts in responses.items()}
        self.rng = random.Random(seed)

    def draw(self, label: str) -> str | None:
        """A response of `label`, or None when the training split had none for it."""
        options = self.responses.get(label)
        return self.rng.choice(options) if options else None
