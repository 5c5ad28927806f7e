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
from pathlib import Path

import pandas as pd
import pytest
from helpers.configs import compose_config
from helpers.legacy import COMMITS, SLOW, TEXTS, TURNS

from maeum.chat import chat
from maeum.cli import hydra_overrides
from maeum.eval import evaluate
from maeum.predict import predict

pytestmark = pytest.mark.e2e


@pytest.fixture(
    scope="module",
    params=[pytest.param(c, id=c[:7], marks=[pytest.mark.slow] * (c in SLOW)) for c in COMMITS],
)
def legacy(request: pytest.FixtureRequest, legacy_run) -> dict[str, Path]:
    """`helpers.legacy.legacy_runs` of the commit (started in the background when the session began)."""
    commit = request.param
    out = legacy_run(commit).result()
    if out is None:
        pytest.skip(f"needs a git checkout that holds {commit} (the code the old checkpoints come from)")
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
