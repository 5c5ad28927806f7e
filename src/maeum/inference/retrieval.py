"""The retrieval chatbot (the original wellness chatbot): answer with a response of the predicted category.

A classifier trained on a corpus with a response column (`data=classify/wellness`: 유저 → 구분, responses
from 챗봇) keeps a response bank: for every label, the distinct responses of its training rows,
whitespace-normalised (`maeum.data.classify.datamodule.build_response_bank`, from the training split only,
so no validation or test response leaks into the chatbot). It travels in the checkpoint and in the export.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence


class ResponseBank:
    """Draws a response of a category with its own seeded RNG (`seed=`), so a session is reproducible."""

    def __init__(self, responses: Mapping[str, Sequence[str]], seed: int | None = 0) -> None:
        self.responses = {label: list(texts) for label, texts in responses.items()}
        self.rng = random.Random(seed)

    def draw(self, label: str) -> str | None:
        """A response of `label`, or None when the training split had none for it."""
        options = self.responses.get(label)
        return self.rng.choice(options) if options else None
