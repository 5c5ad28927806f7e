"""The prediction benchmark script runs and both paths agree; its timings come from the script only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO, SHARED_DATA

CHATBOTDATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"


@pytest.mark.skipif(not CHATBOTDATA.is_file(), reason=f"no real ChatbotData at {CHATBOTDATA}")
def test_bench_predict_runs_and_both_paths_agree() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_predict.py"), "--n", "100", "--repeats", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert values["sentences"] == "100"
    assert float(values["label_agreement"]) == 1.0
    assert float(values["predict_speedup"]) > 0
