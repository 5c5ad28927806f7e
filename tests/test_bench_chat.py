"""The chatbot benchmark script runs and prints every figure; its timings come from the script only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.configs import REPO, SHARED_DATA

pytestmark = pytest.mark.e2e

CHATBOTDATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"


@pytest.mark.slow  # a smoke run of a benchmark script (keeps the default suite under 10 minutes)
@pytest.mark.skipif(not CHATBOTDATA.is_file(), reason=f"no real ChatbotData at {CHATBOTDATA}")
def test_bench_chat_runs_and_prints_every_figure() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_chat.py"), "--n", "64", "--replies", "4",
           "--new-tokens", "8", "--repeats", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and " " not in line)
    assert values["train_dialogues"] == "64"
    for name in ("train_tokens_per_s_ratio", "train_peak_mem_ratio", "reply_latency_ratio"):
        assert float(values[name]) > 0, name
    assert values["batched_equals_unbatched"] == "True"
