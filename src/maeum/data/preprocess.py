"""Text cleaning for Korean dialogue corpora, configured per corpus (`data.preprocess`).

`TextCleaner` applies, in order: Unicode NFC (so decomposed jamo from macOS files compare equal);
`#@이름#` replaced by a name from a list, drawn with an RNG seeded by the text itself (the same text always
gets the same name, whatever the order of the calls); the other AI Hub placeholders (`#@시스템#사진#`,
`#@이모티콘#`, `#@URL#`, ...) and bare URLs removed; runs of ㅋ ㅎ ㅠ ㅜ . ! ? collapsed to two; optional
punctuation stripping (off by default); whitespace collapsed.

The original notebooks' cleaner turned ㅎ into ㅋㅋ and deleted quotes; neither is reproduced.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

NAME_PLACEHOLDER = re.compile(r"#@이름#")
PLACEHOLDER = re.compile(r"#@[^#\s]+(?:#[^#\s]+)*#")
URL = re.compile(r"(?:https?://|www\.)\S+")
REPEATS = re.compile(r"([ㅋㅎㅠㅜ.!?])\1{2,}")
PUNCTUATION = re.compile(r"[^\w\sㄱ-ㅎㅏ-ㅣ]")
DEFAULT_NAMES = ("민준", "서연", "도윤", "지우", "하준", "서윤", "지호", "하은", "준서", "수아")


@dataclass(frozen=True)
class TextCleaner:
    """Callable text cleaner; see the module docstring for what it does."""

    names: Sequence[str] = DEFAULT_NAMES
    seed: int = 0
    strip_punctuation: bool = False

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text)
        if NAME_PLACEHOLDER.search(text):
            rng = random.Random(f"{self.seed}:{text}")
            text = NAME_PLACEHOLDER.sub(lambda _: rng.choice(list(self.names)), text)
        text = URL.sub(" ", PLACEHOLDER.sub(" ", text))
        text = REPEATS.sub(lambda m: m.group(1) * 2, text)
        if self.strip_punctuation:
            text = PUNCTUATION.sub(" ", text)
        return " ".join(text.split())
