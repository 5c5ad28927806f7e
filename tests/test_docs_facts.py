"""What the docs say of the code, checked against the code: the config options a page lists, the flags
the leaderboard prints, the columns a run writes, and the index of the site."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from maeum.analysis.leaderboard.flags import THRESHOLDS
from maeum.paths import config_dir

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
HYDRA_LAUNCHERS = {"basic", "submitit_local", "submitit_slurm"}  # Hydra's own (and its plugin's)
BASES = {"debug": {"default"}}  # the presets' shared base, never chosen on its own
# config groups whose line in the config tree of docs/configuration.md lists every option
LISTED_GROUPS = (
    "data/template", "generation", "trainer", "logger", "debug", "hparams_search", "hydra/launcher"
)  # fmt: skip


def tree_line(group: str) -> str:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if re.match(rf"^├── {re.escape(group)}/\s+#", line)]
    return line


def listed_options(group: str) -> set[str]:
    """The options the tree's comment names: comma- or semicolon-separated, the last word of each, after
    the last colon, parenthesised asides dropped."""
    comment = tree_line(group).split("#", 1)[1]
    comment = re.sub(r"\([^)]*\)", "", comment).rsplit(":", 1)[-1]
    return {piece.split()[-1] for piece in re.split(r"[,;]", comment) if piece.split()}


@pytest.mark.unit
@pytest.mark.parametrize("group", LISTED_GROUPS)
def test_the_config_tree_lists_each_option_of_a_group_and_no_other(group: str) -> None:
    shipped = {p.stem for p in (config_dir() / group).glob("*.yaml")} - BASES.get(group, set())
    builtin = HYDRA_LAUNCHERS if group == "hydra/launcher" else set()
    listed = listed_options(group)
    assert listed - shipped - builtin == set(), f"listed but not in conf/{group}"
    assert shipped - listed == set(), f"in conf/{group} but not listed in docs/configuration.md"


@pytest.mark.unit
def test_the_documented_flags_are_the_leaderboards() -> None:
    """Each flag as `maeum-leaderboard` prints it (its words and a percentage) with its threshold."""
    text = (DOCS / "compare.md").read_text(encoding="utf-8")
    for metric, threshold, words in THRESHOLDS:
        example = re.escape(words).replace(re.escape("{:.0%}"), r"\d+%")
        assert re.search(rf"`{example}` \(`{metric}` ≥ {threshold:.0%}\)", text), words


@pytest.mark.unit
def test_the_index_links_every_page_of_the_site() -> None:
    nav = re.findall(r":\s*([\w-]+\.md)\s*$", (REPO / "mkdocs.yml").read_text(encoding="utf-8"), re.M)
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    missing = [page for page in nav if page != "index.md" and f"]({page})" not in index]
    assert not missing, f"docs/index.md has no row for {missing}"


@pytest.mark.e2e
def test_the_documented_columns_are_the_ones_a_run_writes(main_run) -> None:
    """docs/eval.md names every column of the main job's `test_predictions.csv` and `errors.csv`, and no
    other."""
    text = (DOCS / "eval.md").read_text(encoding="utf-8")
    for name in ("test_predictions.csv", "errors.csv"):
        bullet = re.search(rf"^- `{re.escape(name)}`:(.*?)(?=^- |^$)", text, re.M | re.S)
        assert bullet, name
        documented = set(re.findall(r"`(\w+)`", bullet.group(1)))
        with (main_run[0] / name).open(encoding="utf-8") as f:
            written = set(next(csv.reader(f)))
        assert documented == written, (name, documented ^ written)


@pytest.mark.e2e
def test_the_python_api_notebook_classifies_and_replies(
    main_run, chatbot_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`notebooks/use_a_model.ipynb`, executed on the session's main job and sample chatbot: a label for
    each text and a reply, plain and emotion-aware."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = REPO / "notebooks" / "use_a_model.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # stripped
    for name, run in (("MAEUM_CLASSIFIER", main_run[0]), ("MAEUM_CHATBOT", chatbot_run)):
        monkeypatch.setenv(name, str(next((run / "checkpoints").glob("epoch_*.ckpt"))))  # the best
    client = nbclient.NotebookClient(
        notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    outputs = [
        "".join(str(o.get("text", "")) for o in cell.get("outputs", []) if o.get("name") == "stdout")
        for cell in notebook.cells
    ]
    labels = [line.split()[0] for line in outputs[3].splitlines()]
    assert len(labels) == 3 and set(labels) <= {"기쁨", "당황", "분노", "불안", "상처", "슬픔"}, outputs[3]
    reply = next(line for line in outputs[5].splitlines() if line.startswith("reply:"))
    assert reply.removeprefix("reply:").strip(), outputs[5]
    assert "'reply':" in outputs[5] and "'emotion':" in outputs[5].replace('"', "'"), outputs[5]
