"""Dialogue data: records and templates (`records`), the layout interface and its factory (`layout`), the
two layouts (`markers`, `chat_template`), label masks and truncation over any layout (`encoding`), one
reader per corpus (`readers`) and the DataModule (`datamodule`).

The old module `maeum.data.dialogue` became this package; its names stay importable from here
(`maeum.data.dialogue.DialogueDataModule` is a `_target_` that checkpoints store). They are looked up on
first use, so that importing `maeum.data.dialogue.records` loads neither torch nor Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "records": ("IGNORE_INDEX", "LABEL_MASKS", "TEMPLATES", "Dialogue", "Speaker", "Template", "Turn",
                "ChatTemplate"),
    "layout": ("Layout", "Rendered", "Span", "Cut", "layout_for", "template_from"),
    "markers": ("MarkerLayout", "marker_id", "pretokenize"),
    "encoding": ("encode_dialogue", "encode_dialogues", "encode_prompt", "stop_ids", "turn_prefixes"),
    "datamodule": ("FIELDS", "DialogueCollator", "DialogueCorpus", "DialogueDataModule", "EncodedDialogues"),
}  # fmt: skip
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_HOME_OF)


def __getattr__(name: str) -> Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME_OF[name]}"), name)
