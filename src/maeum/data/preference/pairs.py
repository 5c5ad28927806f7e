"""Where a rejected reply comes from: the sources a `PreferenceDataModule` asks for one per dialogue.

A source is called once per split with that split's dialogues (so a training pair never takes a reply from a
test dialogue) and returns one rejected reply per dialogue ("" where it has none: the pair is dropped and
counted). Its `key` enters the DataModule's cache key. The sources here need nothing above the data layer:

* `FromFile`: the rejected reply that the preference file gives (`maeum.data.preference.readers`);
* `Contrastive`: emotion-contrastive pairs: the reference reply of another dialogue of the same split whose
  condition (its emotion, sentiment or category) differs, drawn with a fixed seed.

Self-play (the reply of a chatbot checkpoint) and contrast by maeum's own emotion classifier load a model,
so they live in `maeum.inference.pair_sources`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from maeum.data.dialogue.records import Dialogue
from maeum.errors import DataError


class RejectedSource(Protocol):
    def __call__(self, dialogues: Sequence[Dialogue], data: Any) -> list[str]: ...

    def key(self) -> object: ...


class FromFile:
    """The rejected replies of a preference file (its records are `PreferenceDialogue`s)."""

    def __call__(self, dialogues: Sequence[Dialogue], data: Any) -> list[str]:
        missing = sum(1 for d in dialogues if not hasattr(d, "rejected"))
        if missing:
            raise DataError(
                "data.rejected=from_file takes the rejected replies of a preference file, but data.reader "
                "reads dialogues without one: use data=preference/file, or data.rejected=contrastive or "
                "self_play to build pairs from a dialogue corpus."
            )
        return [d.rejected for d in dialogues]

    def key(self) -> object:
        return "from_file"


class Contrastive:
    """Another dialogue's reference reply whose condition differs (see the module docstring).

    Args:
        seed: the draw's seed; dialogue i's draw depends on the seed and i only.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __call__(self, dialogues: Sequence[Dialogue], data: Any) -> list[str]:
        labels = [d.condition for d in dialogues]
        if dialogues and not any(labels):
            raise DataError(
                "data.rejected=contrastive draws a reply of another emotion by the dialogues' condition, and "
                "this corpus has none: give data.rejected.emotion_classifier=CLASSIFIER (maeum's own "
                "classifier labels the replies) or use data.rejected=self_play."
            )
        return contrastive_replies(dialogues, labels, self.seed)

    def key(self) -> object:
        return ("contrastive", self.seed)


def contrastive_replies(dialogues: Sequence[Dialogue], labels: Sequence[str | None], seed: int) -> list[str]:
    """For dialogue i, the final reply of a dialogue j whose label differs from i's (and whose reply is not
    i's), drawn with `random.Random((seed, i))`; "" where no such dialogue exists or i has no label."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for j, label in enumerate(labels):
        if label:
            by_label[label].append(j)
    others_of = {
        label: [j for other, rows in by_label.items() if other != label for j in rows] for label in by_label
    }
    rejected = []
    for i, (dialogue, label) in enumerate(zip(dialogues, labels, strict=True)):
        chosen = dialogue.turns[-1].text
        others = others_of.get(label, []) if label else []
        rng = random.Random(f"{seed}:{i}")
        reply = ""
        for _ in range(8):  # a handful of draws: a reply equal to the chosen one is drawn again
            if not others:
                break
            candidate = dialogues[others[rng.randrange(len(others))]].turns[-1].text
            if candidate != chosen:
                reply = candidate
                break
        rejected.append(reply)
    return rejected
