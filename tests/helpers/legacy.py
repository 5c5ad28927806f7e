"""Runs of an earlier commit's code, for tests/test_legacy_checkpoints.py: its `src/` and `conf/` checked out
of this repository's history, one fresh interpreter of that code training a classifier and chatbots,
exporting them and recording their answers (`legacy_runs`). The session starts the default commit's in the
background (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMITS = {  # commit -> the models its script trains
    "b079fef1ae069d28caaa754c7ecfebc2d40aea00": ("classifier", "chatbot", "chat_template"),
    "7a22d6804aa74ec36d9e83f4c670eaf26c294fc9": ("classifier", "chatbot"),
    "b50198ed83551eedaa79c83547132ba29c682b41": ("classifier", "chatbot"),  # the flat layout
}
FLAT = "b50198ed83551eedaa79c83547132ba29c682b41"
SLOW = {FLAT, "7a22d6804aa74ec36d9e83f4c670eaf26c294fc9"}  # under -m slow: the newest commit runs by default
TEXTS = ("오늘 너무 기뻐요 ㅎㅎ", "시험에 떨어져서 슬퍼요 ㅠㅠ", "(발표) 내일이라 떨려... 😢")
TURNS = ("요즘 너무 힘들어", "친구랑 싸웠어 ㅠㅠ")


def legacy_source(root: Path, commit: str) -> Path | None:
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


def run_code(cmd: list[str], cwd: Path, legacy: Path | None = None) -> str:
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


def legacy_runs(root: Path, commit: str) -> dict | None:
    """Runs, exports and answers of `commit`'s code under `root`: `classifier`, `chatbot` (and
    `chat_template`) run dirs, their `*_ckpt` and `*_export`, the `texts`/`turns` files, the legacy
    `predictions` and `replies-<task>`, and `chatbots`, the chatbots it trained. None when this checkout
    does not hold `commit`."""
    code = legacy_source(root, commit)
    if code is None:
        return None
    texts = root / "텍스트 (예시).txt"
    turns = root / "대화 (예시).txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    turns.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    runs = root / "runs"
    tasks = COMMITS[commit]
    run_code(
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
