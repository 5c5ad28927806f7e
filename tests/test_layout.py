"""The house rules of `src/maeum`: imports run only downward, rooms stay small, old import paths resolve."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
from pathlib import Path

import pytest

from maeum import _moved

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "maeum"
ENTRY_POINTS = (
    "train", "eval", "predict", "chat", "demo", "export", "data_stats", "leaderboard", "tokenizer"
)  # fmt: skip
# lowest first: a module may import its own floor and the floors below it, never one above
FLOORS: tuple[tuple[str, ...], ...] = (
    # what a run is and writes (`runs`), and what its reports and the leaderboard measure and draw with
    # (`metrics`): training and analysis both read them, and never each other
    ("maeum", "maeum._moved", "maeum.errors", "maeum.paths", "maeum.runs", "maeum.metrics"),
    ("maeum.backbones",),
    ("maeum.data",),
    ("maeum.models",),
    ("maeum.inference",),
    ("maeum.training",),
    ("maeum.analysis",),
    ("maeum.cli", "maeum.runtime", "maeum.launchers", "maeum.api"),
    tuple(f"maeum.{name}" for name in ENTRY_POINTS),
)
MAX_LINES = 350


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor(module: str) -> int:
    """The floor of `module`: that of the longest name in `FLOORS` it is or lies under."""
    matches = [
        (len(name), level)
        for level, names in enumerate(FLOORS)
        for name in names
        if module == name or (module.startswith(f"{name}.") and name != "maeum")
    ]
    if not matches:
        raise AssertionError(f"{module} is on no floor of FLOORS: add it there")
    return max(matches)[1]


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def maeum_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every maeum module that `path` imports, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "maeum"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "maeum":
            for alias in node.names:  # `from maeum.data import files` imports the module maeum.data.files
                sub = f"{node.module}.{alias.name}"
                found.append((node.lineno, sub if is_module(sub) else node.module))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
LEGACY = "b50198ed83551eedaa79c83547132ba29c682b41"  # the last flat layout (tests/test_legacy_checkpoints.py)
BEFORE_RENAMES = "b079fef"  # the modules renamed with the layout interface and run kinds (issue 29)
RENAMED_AT = {
    old: BEFORE_RENAMES
    for old in (
        "maeum.training.generations", "maeum.training.checkpointing", "maeum.backbones.tokenizer",
        "maeum.models.best", "maeum.models.adapted", "maeum.analysis.text_metrics",
    )
}  # fmt: skip
OLD_FILES = {  # old module -> (the commit that has it, its file there)
    **{old: (RENAMED_AT.get(old, LEGACY), f"src/{old.replace('.', '/')}.py") for old in _moved.MOVED},
    "maeum.backbones": (LEGACY, "src/maeum/backbones.py"),
    "maeum.data.dialogue": (LEGACY, "src/maeum/data/dialogue.py"),
}


FACADE = ("maeum", "maeum.api")  # `maeum.classifier`/`maeum.chatbot`: the package's lazy `__getattr__`


def wrong_way_imports(path: Path, importer: str) -> list[str]:
    """What is wrong with the maeum imports of `path`, the source of module `importer`."""
    wrong = []
    for line, target in maeum_imports(path):
        if (importer, target) == FACADE:
            continue
        where = f"{path.name}:{line} imports {target}"
        if target in _moved.MOVED:
            wrong.append(f"{where}, an old path: import {', '.join(_moved.MOVED[target])}")
        elif floor(target) > floor(importer):
            wrong.append(f"{where}, a floor above it")
        elif floor(target) == len(FLOORS) - 1 and target != importer:
            wrong.append(f"{where}, another entry point")
    return wrong


@pytest.mark.unit
def test_every_source_file_is_on_a_floor() -> None:
    for path in SOURCES:
        floor(module_name(path))


@pytest.mark.unit
def test_imports_only_run_downward() -> None:
    """No module imports a floor above its own, no entry point imports another, and maeum's own code
    imports the new paths, never an old one kept for checkpoints (`maeum._moved`)."""
    wrong = [w for path in SOURCES for w in wrong_way_imports(path, module_name(path))]
    assert not wrong, "wrong-way imports:\n" + "\n".join(wrong)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("importer", "source", "why"),
    [
        ("maeum.inference.loading", "from maeum.training.resume import ResumeCallback", "a floor above"),
        ("maeum.data.classify.datamodule", "from maeum.inference import retrieval", "a floor above"),
        ("maeum.models.chat_lm", "def f():\n    import maeum.analysis.stats", "a floor above"),
        ("maeum.demo", "from maeum.chat import chat", "another entry point"),
        ("maeum.inference.session", "from maeum.loading import load_chatbot", "an old path"),
    ],
)
def test_the_check_catches_each_kind_of_wrong_way_import(
    importer: str, source: str, why: str, tmp_path: Path
) -> None:
    """The wrong-way imports of the flat layout (and an old path), each written into a module and caught."""
    path = tmp_path / "module.py"
    path.write_text(source + "\n", encoding="utf-8")
    (found,) = wrong_way_imports(path, importer)
    assert why in found


@pytest.mark.unit
def test_training_and_analysis_never_import_each_other() -> None:
    """The test-time reports (training) and the leaderboard (analysis) share what a run writes through the
    floor below both (`maeum.runs`, `maeum.metrics`), so neither needs the other."""
    wrong = []
    for path in SOURCES:
        importer = module_name(path)
        for other in ("maeum.training", "maeum.analysis"):
            if importer.startswith(other):
                continue
            mine = "maeum.analysis" if other == "maeum.training" else "maeum.training"
            if importer.startswith(mine):
                wrong += [
                    f"{path.name}:{line} imports {t}"
                    for line, t in maeum_imports(path)
                    if t.startswith(other)
                ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.unit
def test_no_room_is_over_about_300_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def _legacy_names(old: str) -> list[str]:
    """The public top-level names of the old module where it last was, or a skip when git cannot show it."""
    commit, file = OLD_FILES[old]
    shown = subprocess.run(
        ["git", "-C", str(SRC.parent), "show", f"{commit}:{file}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shown.returncode != 0:
        pytest.skip(f"needs a git checkout that holds {commit} (the old module files)")
    names = set()
    for node in ast.parse(shown.stdout).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return sorted(n for n in names if not n.startswith("_") and n not in ("log", "T"))


@pytest.mark.unit
@pytest.mark.parametrize("old", sorted(OLD_FILES))
def test_every_name_of_an_old_module_resolves_to_its_own_object(old: str) -> None:
    """Every public name the old module defined resolves at its old path, to the function or class of that
    name (or its renamed successor), never to a namesake from another home."""
    module = importlib.import_module(old)
    for name in _legacy_names(old):
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            renamed = _moved.RENAMED.get((old, name), (None, name))[1]
            assert obj.__qualname__ in (name, renamed), (old, name, obj)
    with pytest.raises(AttributeError, match="has no attribute"):
        module.no_such_name  # noqa: B018


@pytest.mark.unit
def test_an_old_path_module_holds_only_its_own_dunders() -> None:
    """`maeum.callbacks.__file__` is not training/callbacks.py's: an old path lends only its names."""
    import maeum.callbacks

    assert getattr(maeum.callbacks, "__file__", None) is None
    assert "ResumeCallback" in dir(maeum.callbacks)
    assert "ResumeCallback" in maeum.callbacks.__all__


@pytest.mark.unit
def test_old_targets_that_configs_and_checkpoints_name_resolve() -> None:
    """The `_target_`s that the configs of every earlier release wrote into checkpoints."""
    from hydra.utils import get_object

    from maeum.data.classify.datamodule import ClassificationDataModule
    from maeum.data.dialogue.datamodule import DialogueDataModule
    from maeum.data.dialogue.readers import read_chatbotdata
    from maeum.inference.hf_export import write_export
    from maeum.training.callbacks import GenerationSamples
    from maeum.training.saving import AtomicCheckpointIO

    expected = {
        "maeum.callbacks.GenerationSamples": GenerationSamples,
        "maeum.checkpoint_io.AtomicCheckpointIO": AtomicCheckpointIO,
        "maeum.data.classification.ClassificationDataModule": ClassificationDataModule,
        "maeum.data.dialogue.DialogueDataModule": DialogueDataModule,
        "maeum.data.dialogue_readers.read_chatbotdata": read_chatbotdata,
        "maeum.loading.export": write_export,
    }
    for target, obj in expected.items():
        assert get_object(target) is obj, target


# what using a model must not load: maeum's training machinery and plotting, the leaderboard, W&B
NOT_FOR_INFERENCE = (
    "maeum.training",
    "maeum.analysis",
    "maeum.train",
    "maeum.leaderboard",
    "maeum.callbacks",
    "maeum.reports",
    "wandb",
    "koreanize_matplotlib",
)
INFERENCE_SCRIPT = """
import ast, json, sys
from pathlib import Path
from maeum.inference.hf_export import write_export
from maeum.inference.prediction import Predictor
from maeum.inference.session import ChatSession, load_responder
import maeum.chat, maeum.export, maeum.predict

print(Predictor.from_path(sys.argv[1]).predict(["오늘 너무 기뻐요 ㅎㅎ"])[0]["label"], file=sys.stderr)
print(ChatSession(load_responder(sys.argv[2])).say("요즘 너무 힘들어 ㅠㅠ").reply, file=sys.stderr)
write_export(sys.argv[1], sys.argv[3])
loaded = [m for n, m in list(sys.modules.items()) if n.startswith("maeum")]
maeum_files = [f for m in loaded if (f := getattr(m, "__file__", None))]  # old paths have none
plotting = [f for f in maeum_files if "matplotlib" in {
    (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
    for n in ast.walk(ast.parse(Path(f).read_text(encoding="utf-8")))
    if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names
}]
print(json.dumps({"modules": sorted(sys.modules), "plotting": plotting}))
"""


@pytest.mark.e2e
def test_using_a_model_loads_no_training_code_nor_plotting(main_run, chatbot_run, tmp_path: Path) -> None:
    """Predicting, chatting and exporting (in a fresh process) load no training callbacks, reports, analysis
    or W&B, and no maeum module they load imports matplotlib. (matplotlib itself is in `sys.modules`
    anyway: torchmetrics, which Lightning imports, imports it whenever it is installed.)"""
    import json
    import subprocess
    import sys

    from helpers.runs import best_checkpoint

    classifier = best_checkpoint(main_run[0])
    chatbot = best_checkpoint(chatbot_run)
    cmd = [sys.executable, "-c", INFERENCE_SCRIPT, str(classifier), str(chatbot), str(tmp_path / "export")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert "maeum.inference.session" in loaded["modules"]  # the probe did load the serving code
    wrong = [m for m in loaded["modules"] if m.startswith(NOT_FOR_INFERENCE)]
    assert not wrong, f"inference loaded {wrong}"
    assert not loaded["plotting"], f"maeum modules that import matplotlib were loaded: {loaded['plotting']}"
