"""The LoRA benchmark script runs on a 2-layer copy of Qwen2.5-0.5B's architecture: both sides start from
the same weights and the same batch, and its fraction and ratios are in sane ranges (docs/benchmark.md gives
the 24-layer figures)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.configs import REPO, SHARED_DATA

# a smoke run of a benchmark script (slow: keeps the default suite under 10 minutes)
pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CHATBOTDATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"
TOKENIZER = SHARED_DATA / "chat-tokenizers" / "qwen2.5-0.5b-instruct"
MISSING = next((path for path in (SHARED_DATA, CHATBOTDATA, TOKENIZER) if not path.exists()), None)


@pytest.mark.skipif(
    MISSING is not None, reason=f"{MISSING} is absent (the real ChatbotData and Qwen2.5 tokenizer)"
)
def test_bench_peft_runs_on_a_shallow_qwen2_5() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_peft.py"), "--layers", "2", "--steps", "1",
           "--batch-size", "2", "--threads", "1", "--data", str(CHATBOTDATA),
           "--tokenizer", str(TOKENIZER)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and " " not in line)
    assert values["same_initial_weights"] == "True"
    assert float(values["first_loss_abs_diff"]) < 1e-4  # LoRA's B starts at zero: the same first loss
    assert 0 < float(values["lora_trainable_fraction"]) < 0.05
    for name in ("lora_peak_memory_ratio", "lora_peak_rss_ratio", "lora_step_time_ratio"):
        assert float(values[name]) > 0, name
    assert float(values["lora_peak_memory_ratio"]) < 1  # no gradients nor AdamW states for the base
    for side in ("lora", "full"):
        for name in ("peak_tensor_mb", "peak_rss_mb", "step_s"):
            assert float(values[f"{side}_{name}"]) > 0, f"{side}_{name}"
