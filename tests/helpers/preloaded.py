"""What the entry-point server (`helpers.entry_points`) imports once, before it forks each entry point:
everything maeum's entry points import, without the entry point modules themselves (each runs fresh as
`__main__`, as `python -m` runs it), and the libraries they load lazily on their common paths.

Never a module that makes something outside itself while being imported: every forked process would share
it, and the first to exit would clean it up for all. W&B makes its media directory when imported, so
`wandb` is imported by each process that logs to it."""

from __future__ import annotations

import importlib
import sys

import maeum

ENTRY_POINTS = (
    "train",
    "eval",
    "data_stats",
    "predict",
    "chat",
    "export",
    "leaderboard",
    "demo",
    "tokenizer",
)
LAZY = (
    "transformers.models.bert.modeling_bert",
    "transformers.models.gpt2.modeling_gpt2",
    "transformers.models.llama.modeling_llama",
    "transformers.models.qwen2.modeling_qwen2",
    "transformers.models.qwen3.modeling_qwen3",
    "peft",
    "pandas",
    "openpyxl",
)

for name in ENTRY_POINTS:
    importlib.import_module(f"maeum.{name}")
for name in LAZY:
    importlib.import_module(name)
for name in ENTRY_POINTS:  # forgotten again: `runpy` runs each as `__main__`, freshly, as `python -m` does
    del sys.modules[f"maeum.{name}"]
    delattr(maeum, name)

import helpers.entry_points  # noqa: E402, F401  (what each forked process runs first)
