"""The generation benchmark script runs, feeds the pipeline maeum's exact prompts and gets its replies."""

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
def test_bench_generation_runs_and_both_sides_agree() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_generation.py"), "--n", "32", "--steps", "20",
           "--new-tokens", "8", "--batch-sizes", "8,32", "--pipeline-batch-sizes", "1,8", "--repeats", "1",
           "--threads", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and " " not in line)
    assert values["pipeline_prompts_round_trip"] == "32/32"
    assert values["replies_identical"] == "True"
    for name in ("gen_replies_per_s", "pipeline_replies_per_s", "gen_vs_pipeline_ratio"):
        assert float(values[name]) > 0, name
