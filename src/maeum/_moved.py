"""Old import paths of modules that moved into the role packages, kept importable.

Checkpoints store `_target_` paths (`maeum.callbacks.ClassificationReport`,
`maeum.data.dialogue_readers.read_chatbotdata`, `maeum.checkpoint_io.AtomicCheckpointIO`, ...) and
`maeum-eval` instantiates whatever a checkpoint names, so every path that was ever written keeps resolving.
One table here rather than a shim file per old module, so that `src/maeum` shows only the entry points and
the role packages. `import maeum.callbacks` gives a module whose names are looked up, on first use, in the
modules that now hold them; maeum's own code imports the new paths (a test checks both).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

# old module -> the modules that now hold its names, searched in order
MOVED: dict[str, tuple[str, ...]] = {
    "maeum.callbacks": (
        "maeum.training.callbacks",
        "maeum.training.resume",
        "maeum.training.saving",
        "maeum.inference.checkpoints",
        "maeum.runs.files",
    ),
    "maeum.checkpoint_io": ("maeum.training.saving",),
    "maeum.reports": ("maeum.training.reports", "maeum.runs.files", "maeum.metrics.plots"),
    "maeum.generation": ("maeum.inference.generation", "maeum.data.dialogue.markers"),
    "maeum.loading": ("maeum.inference.loading", "maeum.inference.hf_export"),
    "maeum.prediction": ("maeum.inference.prediction",),
    "maeum.precision": ("maeum.inference.precision",),
    "maeum.retrieval": ("maeum.inference.retrieval", "maeum.data.classify.datamodule"),
    "maeum.session": ("maeum.inference.session", "maeum.inference.responders"),
    "maeum.stats": ("maeum.analysis.stats",),
    "maeum.data.classification": ("maeum.data.classify.datamodule",),
    "maeum.data.readers": ("maeum.data.classify.readers", "maeum.data.files"),
    "maeum.data.dialogue_readers": ("maeum.data.dialogue.readers",),
    # renamed in issue 29 (one name per thing)
    "maeum.training.generations": ("maeum.training.test_replies", "maeum.runs.files"),
    "maeum.training.checkpointing": ("maeum.training.saving",),
    "maeum.backbones.tokenizer": ("maeum.backbones.tokenizer_repairs",),
    "maeum.models.best": ("maeum.models.checkpoint_mixins",),
    "maeum.models.adapted": ("maeum.models.checkpoint_mixins",),
    "maeum.analysis.text_metrics": ("maeum.metrics.text",),
}
# names that changed as they moved: (old module, old name) -> new module, new name
RENAMED: dict[tuple[str, str], tuple[str, str]] = {
    ("maeum.loading", "export"): ("maeum.inference.hf_export", "write_export"),
    ("maeum.loading", "Task"): ("maeum.inference.loading", "ExportKind"),
    ("maeum.callbacks", "CHECKPOINT_KEY"): ("maeum.runs.files", "RUN_KEY"),
    ("maeum.models.best", "CHECKPOINT_KEY"): ("maeum.runs.files", "BEST_KEY"),
    ("maeum.training.generations", "EVALUATION_PRESET"): ("maeum.training.test_replies", "EVALUATION"),
    # the `_target_` that run configs name, for `canonical` (its old module has two homes)
    ("maeum.training.generations", "TestGenerations"): ("maeum.training.test_replies", "TestGenerations"),
}


def canonical(target: str) -> str:
    """A `_target_` path as today's code names it (`maeum.training.generations.TestGenerations` ->
    `maeum.training.test_replies.TestGenerations`), where its old module has one home; else unchanged.
    Nothing is imported: the leaderboard compares the configs of runs written before and after a move."""
    module, _, name = target.rpartition(".")
    if (module, name) in RENAMED:
        return ".".join(RENAMED[module, name])
    homes = MOVED.get(module, ())
    return f"{homes[0]}.{name}" if len(homes) == 1 else target


def lookup(old: str, name: str) -> Any:
    """`old.name` where it lives now; AttributeError when no new home has it."""
    if (old, name) in RENAMED:
        module, new_name = RENAMED[old, name]
        return getattr(importlib.import_module(module), new_name)
    for module in MOVED[old]:
        home = importlib.import_module(module)
        if hasattr(home, name):
            return getattr(home, name)
    raise AttributeError(f"module {old!r} (now {', '.join(MOVED[old])}) has no attribute {name!r}")


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the modules of `MOVED` and makes each a module that forwards attribute lookups."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        module.__doc__ = f"Moved to {', '.join(MOVED[old])}; this path stays for old checkpoints and imports."
        module.__getattr__ = lambda name: _forward(old, name)  # PEP 562
        module.__dir__ = lambda: sorted({*module.__dict__, *_public(old)})


def _forward(old: str, name: str) -> Any:
    if name.startswith("__"):  # __file__, __path__, __all__ ...: this module's own, never a home's
        if name == "__all__":
            return _public(old)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")
    return lookup(old, name)


def _public(old: str) -> list[str]:
    """The public names of the old module's homes (what `from old import *` gives)."""
    names = set()
    for home in MOVED[old]:
        module = importlib.import_module(home)
        names.update(getattr(module, "__all__", None) or (n for n in vars(module) if not n.startswith("_")))
    return sorted(names)


def install() -> None:
    """Put the old paths on `sys.meta_path` (once)."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(_OldPaths())
