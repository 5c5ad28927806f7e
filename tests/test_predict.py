"""maeum-predict: batched inference that agrees with one-at-a-time inference, in three modes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import compose_config

from maeum.cli import hydra_override
from maeum.inference.prediction import Predictor
from maeum.predict import predict

pytestmark = pytest.mark.e2e

TEXTS = ["정말 화가 난다", "시험에 떨어져서 너무 슬퍼요. 눈물이 멈추지 않아.", "합격!", "내일 면접이라 떨려"]


@pytest.fixture(scope="module")
def checkpoint(main_run) -> Path:
    (best,) = main_run[0].glob("checkpoints/epoch_*.ckpt")
    return best


def test_batched_predictions_match_one_at_a_time(checkpoint: Path) -> None:
    predictor = Predictor.from_path(checkpoint, batch_size=3)
    batched = predictor.predict(TEXTS)
    assert [r["text"] for r in batched] == TEXTS  # input order is kept
    assert predictor.predict(TEXTS) == batched  # eval mode: no dropout at inference
    for result in batched:
        (single,) = predictor.predict([result["text"]])
        assert single["label"] == result["label"]
        assert single["probs"] == pytest.approx(result["probs"], abs=1e-5)
        assert sum(result["probs"].values()) == pytest.approx(1.0, abs=1e-4)
        assert set(result["probs"]) == {"분노", "슬픔", "불안", "상처", "당황", "기쁨"}


def test_predictions_match_the_test_loop(checkpoint: Path, main_run) -> None:
    """Every error that the test loop reported is predicted the same way by the Predictor."""
    errors = list(csv.DictReader((main_run[0] / "errors.csv").open(encoding="utf-8")))
    predicted = Predictor.from_path(checkpoint).predict([row["text"] for row in errors])
    assert [r["label"] for r in predicted] == [row["predicted"] for row in errors]


def test_text_mode_prints_one_json_line(checkpoint: Path, tmp_path: Path, capsys) -> None:
    predict(compose_config("predict", tmp_path, [f"ckpt_path={checkpoint}", "text='오늘 너무 기뻐요!'"]))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["text"] == "오늘 너무 기뻐요!" and result["label"] in result["probs"]


def test_file_mode_writes_jsonl_in_input_order(checkpoint: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join([TEXTS[0], "", *TEXTS[1:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "pred.jsonl"
    predict(
        compose_config("predict", tmp_path, [f"ckpt_path={checkpoint}", f"input={source}", f"output={out}"])
    )
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in lines] == TEXTS  # the empty line is skipped (and logged)


def test_interactive_mode_ends_on_an_empty_line_or_eof(checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = compose_config("predict", tmp_path, [f"ckpt_path={checkpoint}"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("정말 화가 난다\n\n무시된 줄\n"))
    assert [r["text"] for r in predict(cfg)] == ["정말 화가 난다"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("기뻐요\n슬퍼요"))  # EOF without a newline
    assert [r["text"] for r in predict(cfg)] == ["기뻐요", "슬퍼요"]


@pytest.mark.parametrize("text", ["오늘 기뻐", 'it\'s "quoted", a=b', "end\\", "${oc.env:HOME}"])
def test_command_line_text_needs_no_hydra_quoting(text: str, checkpoint: Path, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from maeum.paths import config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        text_override = hydra_override(f"text={text}", free_text=("text",))
        cfg = compose("predict", overrides=[f"ckpt_path={checkpoint}", text_override])
    assert cfg.text == text


def test_console_script_end_to_end(checkpoint: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "maeum.predict", f"ckpt_path={checkpoint}", "text=시험에 떨어져서 너무 슬퍼"]
    proc = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["label"] in (
        "분노",
        "슬픔",
        "불안",
        "상처",
        "당황",
        "기쁨",
    )


def test_missing_input_file_is_one_message(checkpoint: Path, tmp_path: Path, caplog) -> None:
    with pytest.raises(SystemExit):
        predict(
            compose_config("predict", tmp_path, [f"ckpt_path={checkpoint}", f"input={tmp_path}/nope.txt"])
        )
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert error.startswith(f"{tmp_path}/nope.txt: file not found")
