"""maeum's trained models from Python (a notebook, a script, a service): what `maeum-predict` and
`maeum-chat` do underneath, in two functions. Each takes a `maeum-train` checkpoint or a `maeum-export`
directory.

    import maeum

    classifier = maeum.classifier("logs/emotion/checkpoints/last.ckpt")
    classifier.predict(["오늘 너무 기뻐요 ㅋㅋ", "시험에 떨어졌어 ㅠㅠ"])
    # [{"text": "오늘 너무 기뻐요 ㅋㅋ", "label": "기쁨", "probs": {"기쁨": 0.61, ...}}, ...]

    chatbot = maeum.chatbot("logs/chatbot/checkpoints/last.ckpt", condition="슬픔")
    chatbot.say("요즘 잠을 못 자").reply   # the history is kept: say() again to go on; reset with turns = []
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maeum.inference.prediction import Predictor
from maeum.inference.session import ChatSession, load_responder


def classifier(
    path: str | Path, device: str = "cpu", batch_size: int = 64, precision: str = "32"
) -> Predictor:
    """A classifier, batched: `.predict(texts)` gives each text's `label` and `probs`, in input order.

    Args:
        path: a classifier's checkpoint (`.ckpt`) or export directory.
        device: where it runs (`cpu`, `cuda`).
        batch_size: texts per forward pass (sorted by length, as `maeum-predict` does).
        precision: "32", or "bf16" for bf16 autocast.
    """
    return Predictor.from_path(path, device=device, batch_size=batch_size, precision=precision)


def chatbot(
    path: str | Path,
    condition: str | None = None,
    classifier: str | Path | None = None,
    generation: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> ChatSession:
    """A conversation with a chatbot: `.say(text)` answers one user turn (`.reply`) and keeps the history,
    as `maeum-chat` does.

    Args:
        path: a chatbot's checkpoint or export, or a classifier with a response bank (the retrieval chatbot).
        condition: the emotion or category every reply is conditioned on (one the chatbot was trained with);
            None for the chatbot's default.
        classifier: a classifier whose predicted label conditions each reply instead (emotion-aware chat).
        generation: `transformers.GenerationConfig` fields (`conf/generation/*.yaml`); greedy when None.
        device: where the models run (`cpu`, `cuda`).
    """
    responder = load_responder(path, classifier_ckpt=classifier, settings=generation, device=device)
    return ChatSession(responder, condition=condition)
