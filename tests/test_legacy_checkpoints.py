"""Checkpoints and exports written by maeum before the role packages load and answer under today's code.

The fixture checks out the code of `LEGACY` (the last commit of the flat layout, whose checkpoints store
`_target_`s such as `maeum.data.dialogue.DialogueDataModule`, `maeum.data.readers.read_table` and
`maeum.checkpoint_io.AtomicCheckpointIO`), trains a classifier and a chatbot with it, exports both and
records their answers. Today's `maeum-eval`, `maeum-predict` and `maeum-chat` must then give the same
answers from the same files. Checkpoints are ~10 MB each, so they are built here rather than committed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from helpers.configs import compose_config

from maeum.chat import chat
from maeum.cli import hydra_overrides
from maeum.eval import evaluate
from maeum.predict import predict

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
LEGACY = "b50198ed83551eedaa79c83547132ba29c682b41"  # the flat layout (maeum.callbacks, maeum.loading, ...)
TEXTS = ("오늘 너무 기뻐요 ㅎㅎ", "시험에 떨어져서 슬퍼요 ㅠㅠ", "(발표) 내일이라 떨려... 😢")
TURNS = ("요즘 너무 힘들어", "친구랑 싸웠어 ㅠㅠ")


def _legacy_source(root: Path) -> Path | None:
    """`src/` and `conf/` of `LEGACY` under `root`, or None when this checkout has no such commit."""
    if shutil.which("git") is None:
        return None
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{LEGACY}^{{commit}}"], check=False)
    if known.returncode != 0:
        return None
    archive = root / "legacy.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), LEGACY, "src", "conf"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(root / "legacy", filter="data")
    return root / "legacy"


def _run(cmd: list[str], cwd: Path, legacy: Path | None = None) -> str:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    env.pop("PYTHONPATH", None)
    if legacy is not None:
        env["PYTHONPATH"] = str(legacy / "src")  # ahead of the installed maeum
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


# One process of the legacy code does everything the old way (through its own job functions, as its
# command lines would): train, export, predict and chat. Process start-ups are most of this test's time.
LEGACY_SCRIPT = """
import json, sys
from pathlib import Path
from hydra import compose, initialize_config_dir
import maeum.runtime
from maeum.chat import chat
from maeum.cli import hydra_overrides
from maeum.export import export
from maeum.paths import config_dir
from maeum.predict import predict
from maeum.train import train

root = Path(sys.argv[1])
def config(name, run, *overrides):
    paths = [f"paths.root_dir={run}", f"paths.log_dir={run}/logs", f"paths.output_dir={run}"]
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose(name, overrides=hydra_overrides([*paths, "extras.print_config=false", *overrides]))
for task, extra in (("classifier", []), ("chatbot", ["experiment=chatbot/sample_tiny"])):
    train(config("train", root / task, *extra, "trainer.max_epochs=1", "logger=csv"))
    (ckpt,) = (root / task / "checkpoints").glob("epoch_*.ckpt")
    export(config("export", root / task, f"ckpt_path={ckpt}", f"output_dir={root / task / 'export'}"))
ckpt = next((root / "classifier" / "checkpoints").glob("epoch_*.ckpt"))
predictions = predict(config("predict", root, f"ckpt_path={ckpt}", f"input={sys.argv[2]}",
                             f"output={root / 'predictions.jsonl'}"))
ckpt = next((root / "chatbot" / "checkpoints").glob("epoch_*.ckpt"))
answers = chat(config("chat", root, f"ckpt_path={ckpt}", f"input={sys.argv[3]}", "output_format=jsonl"))
lines = [json.dumps(a.record, ensure_ascii=False) + "\\n" for a in answers]
(root / "replies.jsonl").write_text("".join(lines), encoding="utf-8")
"""


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Runs, exports and answers of the `LEGACY` code: `classifier`, `chatbot` (run dirs), their `*_ckpt`
    and `*_export`, and the `texts`/`turns` files with the legacy `predictions`/`replies`."""
    root = tmp_path_factory.mktemp("legacy")
    code = _legacy_source(root)
    if code is None:
        pytest.skip(f"needs a git checkout that holds {LEGACY} (the code the old checkpoints come from)")
    texts = root / "텍스트 (예시).txt"
    turns = root / "대화 (예시).txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    turns.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    runs = root / "runs"
    _run([sys.executable, "-c", LEGACY_SCRIPT, str(runs), str(texts), str(turns)], code, code)
    out = {"texts": texts, "turns": turns}
    for task in ("classifier", "chatbot"):
        out[task] = runs / task
        (out[f"{task}_ckpt"],) = (runs / task / "checkpoints").glob("epoch_*.ckpt")
        out[f"{task}_export"] = runs / task / "export"
    out["predictions"] = runs / "predictions.jsonl"
    out["replies"] = runs / "replies.jsonl"
    return out


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# Each command meets each kind of old file through the job function its console script calls (the console
# scripts themselves, with Korean file names, are tests/test_cli.py's): a process start-up per check would
# cost more than all the checks.
@pytest.mark.parametrize("task", ["classifier", "chatbot"])
def test_maeum_eval_retests_an_old_checkpoint_as_its_run_did(
    legacy: dict[str, Path], task: str, tmp_path: Path
) -> None:
    """Today's maeum-eval instantiates the old `_target_`s the checkpoint names and writes the same
    per-example file as the legacy run's own test."""
    evaluate(compose_config("eval", tmp_path, hydra_overrides([f"ckpt_path={legacy[f'{task}_ckpt']}"])))
    old = pd.read_csv(legacy[task] / "test_predictions.csv")
    new = pd.read_csv(tmp_path / "test_predictions.csv")
    assert len(new) == len(old) > 0
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-5)


@pytest.mark.parametrize("source", ["classifier_ckpt", "classifier_export"])
def test_maeum_predict_answers_an_old_checkpoint_and_export_as_before(
    legacy: dict[str, Path], source: str, tmp_path: Path
) -> None:
    output = tmp_path / "예측 (새 코드).jsonl"
    args = [f"ckpt_path={legacy[source]}", f"input={legacy['texts']}", f"output={output}"]
    predict(compose_config("predict", tmp_path, hydra_overrides(args)))
    old = _jsonl(legacy["predictions"].read_text(encoding="utf-8"))
    new = _jsonl(output.read_text(encoding="utf-8"))
    assert [r["text"] for r in new] == list(TEXTS)
    assert [r["label"] for r in new] == [r["label"] for r in old]
    for a, b in zip(new, old, strict=True):
        assert a["probs"] == pytest.approx(b["probs"], abs=1e-5)


@pytest.mark.parametrize("source", ["chatbot_ckpt", "chatbot_export"])
def test_maeum_chat_replies_from_an_old_checkpoint_and_export_as_before(
    legacy: dict[str, Path], source: str, tmp_path: Path
) -> None:
    args = [f"ckpt_path={legacy[source]}", f"input={legacy['turns']}", "output_format=jsonl"]
    new = [answer.record for answer in chat(compose_config("chat", tmp_path, hydra_overrides(args)))]
    old = _jsonl(legacy["replies"].read_text(encoding="utf-8"))
    assert any(r["reply"] for r in old)  # a comparison of words, not of empty replies
    assert len(new) == len(TURNS)
    assert [r["reply"] for r in new] == [r["reply"] for r in old]  # greedy decoding: the same words
