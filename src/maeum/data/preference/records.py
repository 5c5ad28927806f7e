"""The preference record: a dialogue whose final system turn is the preferred reply, with a rejected reply
beside it.

A `PreferenceDialogue` is a `Dialogue` (so that it splits, cleans and lays out as any dialogue does: its
prompt is every turn before the final system turn, with its condition) that also carries `rejected`, the
dispreferred reply to the same prompt. Dialogues built from a corpus have no rejected reply until a pair
builder (`maeum.data.preference.pairs`) gives them one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maeum.data.dialogue.records import Dialogue, Turn


@dataclass(frozen=True, init=False)
class PreferenceDialogue(Dialogue):
    """`turns` end on the chosen reply (a sys turn); `rejected` is the other reply to `turns[:-1]`."""

    rejected: str = ""

    def __init__(self, turns: Sequence[Turn], condition: str | None = None, rejected: str = "") -> None:
        super().__init__(turns, condition)
        object.__setattr__(self, "rejected", rejected)

    @property
    def prompt(self) -> Dialogue:
        """The turns before the chosen reply, with the condition (they end on the usr turn to answer)."""
        return Dialogue(self.turns[:-1], self.condition)

    @property
    def chosen(self) -> str:
        return self.turns[-1].text
