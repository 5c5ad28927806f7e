"""Checkpoints and exports written by earlier maeum load and answer under today's code.

The fixture checks out the code of an earlier commit, trains a classifier and a chatbot with it (and at
b079fef a LoRA chatbot in its chat template too), exports them and records their answers. Today's
`maeum-eval`, `maeum-predict` and `maeum-chat` must then give the same answers from the same files.
Checkpoints are ~10 MB each, so they are built here rather than committed. The commits:

* b079fef, the code before one dialogue layout interface and run kinds (no `model.kind`, templates
  without their layout; checkpoint keys and module paths of then);
* 7a22d68, before chat templates and pretraining;
* b50198e, the last flat layout (`_target_`s such as `maeum.data.dialogue.DialogueDataModule`,
  `maeum.data.readers.read_table`, `maeum.checkpoint_io.AtomicCheckpointIO`), under `-m slow`.
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
COMMITS = {  # commit -> the models its script trains
    "b079fef1ae069d28caaa754c7ecfebc2d40aea00": ("classifier", "chatbot", "chat_template"),
    "7a22d6804aa74ec36d9e83f4c670eaf26c294fc9": ("classifier", "chatbot"),
    "b50198ed83551eedaa79c83547132ba29c682b41": ("classifier", "chatbot"),  # the flat layout
}
FLAT = "b50198ed83551eedaa79c83547132ba29c682b41"
SLOW = {FLAT, "7a22d6804aa74ec36d9e83f4c670eaf26c294fc9"}  # under -m slow: the newest commit runs by default
TEXTS = ("오늘 너무 기뻐요 ㅎㅎ", "시험에 떨어져서 슬퍼요 ㅠㅠ", "(발표) 내일이라 떨려... 😢")
TURNS = ("요즘 너무 힘들어", "친구랑 싸웠어 ㅠㅠ")


def _legacy_source(root: Path, commit: str) -> Path | None:
    """`src/` and `conf/` of `commit` under `root`, or None when this checkout has no such commit."""
    if shutil.which("git") is None:
        return None
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], check=False)
    if known.returncode != 0:
        return None
    archive = root / "legacy.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), commit, "src", "conf"], check=True)
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
LORA = ["experiment=chatbot/sample_tiny", "backbone=tiny_llama3", "data/template=chat_template",
        "model/peft=lora", "model.peft.r=16", "model.optimizer.lr=5e-3", "data.max_length=128"]
EXTRA = {"classifier": [], "chatbot": ["experiment=chatbot/sample_tiny"], "chat_template": LORA}
EPOCHS = {"chat_template": 3}  # LoRA on a random tiny model says words after 3 epochs, not 1
for task in sys.argv[4].split(","):
    epochs = f"trainer.max_epochs={EPOCHS.get(task, 1)}"
    train(config("train", root / task, *EXTRA[task], epochs, "logger=csv"))
    (ckpt,) = (root / task / "checkpoints").glob("epoch_*.ckpt")
    export(config("export", root / task, f"ckpt_path={ckpt}", f"output_dir={root / task / 'export'}"))
ckpt = next((root / "classifier" / "checkpoints").glob("epoch_*.ckpt"))
predictions = predict(config("predict", root, f"ckpt_path={ckpt}", f"input={sys.argv[2]}",
                             f"output={root / 'predictions.jsonl'}"))
for task in sys.argv[4].split(",")[1:]:
    ckpt = next((root / task / "checkpoints").glob("epoch_*.ckpt"))
    answers = chat(config("chat", root, f"ckpt_path={ckpt}", f"input={sys.argv[3]}", "output_format=jsonl"))
    lines = [json.dumps(a.record, ensure_ascii=False) + "\\n" for a in answers]
    (root / f"replies-{task}.jsonl").write_text("".join(lines), encoding="utf-8")
"""


@pytest.fixture(
    scope="module",
    params=[pytest.param(c, id=c[:7], marks=[pytest.mark.slow] * (c in SLOW)) for c in COMMITS],
)
def legacy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Runs, exports and answers of an earlier commit's code: `classifier`, `chatbot` (and `chat_template`)
    run dirs, their `*_ckpt` and `*_export`, the `texts`/`turns` files, the legacy `predictions` and
    `replies-<task>`, and `tasks`, the chatbots it trained."""
    commit = request.param
    root = tmp_path_factory.mktemp(f"legacy-{commit[:7]}")
    code = _legacy_source(root, commit)
    if code is None:
        pytest.skip(f"needs a git checkout that holds {commit} (the code the old checkpoints come from)")
    texts = root / "텍스트 (예시).txt"
    turns = root / "대화 (예시).txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    turns.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    runs = root / "runs"
    tasks = COMMITS[commit]
    _run(
        [sys.executable, "-c", LEGACY_SCRIPT, str(runs), str(texts), str(turns), ",".join(tasks)], code, code
    )
    out = {"texts": texts, "turns": turns, "chatbots": tasks[1:]}
    for task in tasks:
        out[task] = runs / task
        (out[f"{task}_ckpt"],) = (runs / task / "checkpoints").glob("epoch_*.ckpt")
        out[f"{task}_export"] = runs / task / "export"
    out["predictions"] = runs / "predictions.jsonl"
    for task in tasks[1:]:
        out[f"replies-{task}"] = runs / f"replies-{task}.jsonl"
    return out


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# Each command meets each kind of old file through the job function its console script calls (the console
# scripts themselves, with Korean file names, are tests/test_cli.py's): a process start-up per check would
# cost more than all the checks.
def _trained(legacy: dict[str, Path], task: str) -> None:
    if task not in legacy:
        pytest.skip(f"the code of this commit has no {task} to train")


@pytest.mark.parametrize("task", ["classifier", "chatbot", "chat_template"])
def test_maeum_eval_retests_an_old_checkpoint_as_its_run_did(
    legacy: dict[str, Path], task: str, tmp_path: Path
) -> None:
    """Today's maeum-eval instantiates the old `_target_`s the checkpoint names and writes the same
    per-example file as the legacy run's own test."""
    _trained(legacy, task)
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


@pytest.mark.parametrize("task", ["chatbot", "chat_template"])
@pytest.mark.parametrize("source", ["ckpt", "export"])
def test_maeum_chat_replies_from_an_old_checkpoint_and_export_as_before(
    legacy: dict[str, Path], task: str, source: str, tmp_path: Path
) -> None:
    _trained(legacy, task)
    args = [f"ckpt_path={legacy[f'{task}_{source}']}", f"input={legacy['turns']}", "output_format=jsonl"]
    new = [answer.record for answer in chat(compose_config("chat", tmp_path, hydra_overrides(args)))]
    old = _jsonl(legacy[f"replies-{task}"].read_text(encoding="utf-8"))
    assert any(r["reply"] for r in old)  # a comparison of words, not of empty replies
    assert len(new) == len(TURNS)
    assert [r["reply"] for r in new] == [r["reply"] for r in old]  # greedy decoding: the same words
