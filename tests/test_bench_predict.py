"""The prediction benchmark script runs and both paths agree; its timings come from the script only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.configs import REPO, SHARED_DATA

pytestmark = pytest.mark.e2e

CHATBOTDATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"
KOBERT = SHARED_DATA / "kobert-tokenizer" / "spiece.model"


@pytest.mark.slow  # a smoke run of a benchmark script (keeps the default suite under 10 minutes)
@pytest.mark.skipif(not CHATBOTDATA.is_file(), reason=f"no real ChatbotData at {CHATBOTDATA}")
@pytest.mark.skipif(not KOBERT.is_file(), reason=f"no KoBERT tokenizer at {KOBERT}")
def test_bench_predict_runs_and_both_paths_agree() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_predict.py"), "--n", "100", "--repeats", "1",
           "--layers", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert values["sentences"] == "100"
    assert float(values["label_agreement"]) == 1.0
    assert float(values["predict_speedup"]) > 0
    # maeum's Predictor and transformers.pipeline on one KoBERT-shaped model: the same labels in fp32
    assert float(values["maeum_32_label_agreement_with_pipeline"]) == 1.0
    assert float(values["vs_hf_pipeline_ratio"]) > 0
