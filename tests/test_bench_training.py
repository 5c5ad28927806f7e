"""The training benchmarks run on small shapes: gradient checkpointing in both LightningModules keeps the
losses and lowers peak memory (the script's own measurement; docs/benchmark.md gives the 12 x 768
figures), and the bf16 benchmark runs. Their speed figures come from the scripts only."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.configs import REPO

pytestmark = pytest.mark.e2e


@pytest.mark.slow  # a smoke run of a benchmark script, as the other benchmarks'
def test_checkpointing_keeps_the_losses_and_lowers_peak_memory() -> None:
    script = REPO / "scripts" / "bench_checkpointing.py"
    cmd = [sys.executable, str(script), "--layers", "2", "--width", "128", "--steps", "2",
           "--batch-size", "16"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    for module in ("classifier", "chat_lm"):
        assert float(values[f"{module}_loss_max_abs_diff"]) < 1e-5
        assert values[f"{module}_plain_losses"] == values[f"{module}_checkpointing_losses"]
        assert 0 < float(values[f"{module}_checkpointing_peak_mem_ratio"]) < 0.95
        assert float(values[f"{module}_plain_peak_mem_mb"]) > 0


@pytest.mark.slow  # a smoke run of a benchmark script (keeps the default suite under 10 minutes)
@pytest.mark.skipif(
    not (REPO.parent / "shared" / "data" / "chatbotdata" / "ChatbotData.csv").is_file(),
    reason="no real ChatbotData in ../shared/data",
)
def test_bench_precision_runs_on_a_small_gpt2() -> None:
    script = REPO / "scripts" / "bench_precision.py"
    cmd = [sys.executable, str(script), "--layers", "1", "--width", "64", "--steps", "2", "--batch-size", "4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert float(values["bf16_cpu_speedup"]) > 0
    assert float(values["bf16_loss_max_abs_diff"]) < 0.1
    assert len(values["fp32_losses"].split()) == len(values["bf16_losses"].split()) == 2
