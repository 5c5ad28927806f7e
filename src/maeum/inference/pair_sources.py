"""Rejected replies that need a model: the pair sources of `maeum.data.preference.pairs` that load one.

* `SelfPlay` (SPIN, Chen et al., 2024): the rejected reply is a chatbot's own reply to the prompt (an SFT
  run's checkpoint or export; in a second round, the first round's). Generated once per split in batches
  with the KV cache, and cached on disk by the chatbot's files, the prompts, the layout and the preset.
* `ClassifierContrastive`: emotion-contrastive pairs where the corpus has no condition (or another one):
  maeum's own emotion classifier labels every reference reply, and the rejected reply is one of another
  label (`maeum.data.preference.pairs.contrastive_replies`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from maeum.backbones import load_model, load_tokenizer
from maeum.backbones.loading import resolve
from maeum.data.cache import Ragged, cached, fingerprint, tokenizer_fingerprint
from maeum.data.dialogue.records import Dialogue
from maeum.data.preference.pairs import contrastive_replies
from maeum.errors import MaeumError
from maeum.inference.generation import GREEDY, ReplyGenerator
from maeum.inference.loading import Chatbot, load_chatbot, load_classifier
from maeum.inference.prediction import Predictor
from maeum.runs.files import EXPORT_META

log = logging.getLogger(__name__)


def files_fingerprint(path: str | Path) -> str:
    """A checkpoint's (or an export directory's) identity: its files' names, sizes and modification times."""
    path = Path(path).expanduser().resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return fingerprint(str(path), [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])


class SelfPlay:
    """The replies of a chatbot (`chatbot`: a maeum-train checkpoint or maeum-export directory).

    Args:
        chatbot: the chatbot whose replies are rejected (a maeum checkpoint or export, or a backbone name or
            directory, laid out as the data is); its tokenizer must be the data's.
        preset: `transformers.GenerationConfig` fields (greedy with 32 new tokens by default).
        batch_size: prompts per `generate` call.
        seed: the generation seed when the preset samples.
    """

    def __init__(
        self,
        chatbot: str,
        preset: Mapping[str, Any] | None = None,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        if not chatbot:
            raise MaeumError(
                "data.rejected.chatbot: self-play needs the chatbot whose replies are rejected (a "
                "maeum-train checkpoint or maeum-export directory, e.g. the SFT run's export)"
            )
        self.raw = str(chatbot)
        self.chatbot = (
            str(Path(chatbot).expanduser().resolve()) if Path(chatbot).expanduser().exists() else self.raw
        )
        self.preset = dict(preset) if preset is not None else dict(GREEDY)
        self.batch_size = batch_size
        self.seed = seed
        self._loaded: Chatbot | None = None

    def key(self) -> object:
        where = self.chatbot if Path(self.chatbot).exists() else resolve(self.raw)[0]  # a backbone: its files
        found = Path(where).exists()
        return ("self_play", files_fingerprint(where) if found else where, self.preset, self.seed)

    def _bot(self, data: Any) -> Chatbot:
        if self._loaded is None:
            bot = self._load(data)
            if tokenizer_fingerprint(bot.tokenizer) != tokenizer_fingerprint(data.tokenizer):
                raise MaeumError(
                    f"data.rejected.chatbot={self.chatbot}: its tokenizer differs from the data's "
                    f"({data.tokenizer_name}); self-play needs a chatbot with the model's own tokenizer."
                )
            self._loaded = bot
        return self._loaded

    def _load(self, data: Any) -> Chatbot:
        """A maeum checkpoint or export as such; any other path or name as a backbone in the data's layout
        (the model a run starts from: SPIN's first round)."""
        path = Path(self.chatbot)
        if path.is_file() or (path / EXPORT_META).is_file():
            return load_chatbot(path)
        model = load_model(self.raw, causal_lm=True).eval()
        return Chatbot(model, load_tokenizer(self.raw), data.template, data.max_length)

    def __call__(self, dialogues: Sequence[Dialogue], data: Any) -> list[str]:
        prompts = [Dialogue(d.turns[:-1], d.condition) for d in dialogues]
        key = fingerprint(
            "self_play_replies",
            self.key(),
            tokenizer_fingerprint(data.tokenizer),
            repr(data.template),
            data.max_length,
            [([(t.speaker, t.text) for t in p.turns], p.condition) for p in prompts],
        )

        def generate() -> dict[str, Ragged]:
            bot = self._bot(data)
            log.info("Self-play: %d replies of %s", len(prompts), self.chatbot)
            generator = ReplyGenerator(
                bot.model,
                data.tokenizer,
                max_length=data.max_length,
                template=data.template,
                settings=self.preset,
                batch_size=self.batch_size,
            )
            with torch.random.fork_rng():
                torch.manual_seed(self.seed)
                replies = generator.generate(prompts)
            return {"replies": Ragged.from_lists([[ord(c) for c in r.text] for r in replies])}

        replies = cached(data.cache_dir, key, generate)["replies"]
        return ["".join(map(chr, replies[i])) for i in range(len(prompts))]


class ClassifierContrastive:
    """Emotion-contrastive pairs by maeum's own classifier (see the module docstring).

    Args:
        emotion_classifier: a maeum classifier (checkpoint or export) that labels the reference replies.
        seed: the draw's seed.
    """

    def __init__(self, emotion_classifier: str, seed: int = 0) -> None:
        self.emotion_classifier = str(Path(emotion_classifier).expanduser().resolve())
        self.seed = seed
        self._predictor: Predictor | None = None

    def key(self) -> object:
        return ("classifier_contrastive", files_fingerprint(self.emotion_classifier), self.seed)

    def __call__(self, dialogues: Sequence[Dialogue], data: Any) -> list[str]:
        if self._predictor is None:
            self._predictor = Predictor.from_classifier(load_classifier(self.emotion_classifier))
        references = [d.turns[-1].text for d in dialogues]
        labels = [p["label"] for p in self._predictor.predict(references)] if references else []
        return contrastive_replies(dialogues, labels, self.seed)
