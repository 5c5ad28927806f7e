"""Inference precision for `maeum-predict`, `maeum-chat` and `maeum-demo` (`precision=32|bf16`).

Training precision is Lightning's (`trainer.precision`); this is the same bf16 autocast for inference.
"""

from __future__ import annotations

import torch

from maeum.errors import MaeumError

PRECISIONS = ("32", "bf16")


def check_precision(precision: str | int) -> str:
    """`precision` as "32" or "bf16"; anything else is refused with one message."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise MaeumError(f"precision={precision} is not one of {', '.join(PRECISIONS)}")
    return precision


def autocast(precision: str | int, device: torch.device | str) -> torch.autocast:
    """A new inference context for `precision`: "32" (autocast off) or "bf16" (bf16 autocast on `device`).

    One per use: an autocast object keeps the state it replaced, so concurrent requests must not share one.
    """
    enabled = check_precision(precision) == "bf16"
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled)
