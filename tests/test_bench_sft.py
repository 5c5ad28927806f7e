"""The SFT benchmark script runs, and TRL's SFTTrainer trains on maeum's exact batches with maeum's losses."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from helpers.configs import REPO, SHARED_DATA

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a smoke run of a benchmark script that trains 8 times

CHATBOTDATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"
TOKENIZERS = SHARED_DATA / "chat-tokenizers"
PAIRINGS = ("last_sys", "all_sys")


@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="trl is not installed (the bench extra)")
@pytest.mark.skipif(not CHATBOTDATA.is_file(), reason=f"no real ChatbotData at {CHATBOTDATA}")
@pytest.mark.skipif(not (TOKENIZERS / "qwen3-0.6b").is_dir(), reason=f"no Qwen3 tokenizer in {TOKENIZERS}")
def test_bench_sft_runs_and_trl_matches_maeums_masks() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_sft.py"), "--data", str(CHATBOTDATA),
           "--dialogues", "12", "--batch-size", "4", "--steps", "3", "--max-length", "96"]  # fmt: skip
    env = {**os.environ, "MAEUM_CHAT_TOKENIZERS": os.environ.get("MAEUM_CHAT_TOKENIZERS", str(TOKENIZERS))}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and " " not in line)
    for mask in PAIRINGS:
        assert values[f"{mask}_batches_identical"] == "True", mask
        assert float(values[f"sft_loss_max_abs_diff_{mask}"]) <= 1e-4, mask
        assert len(values[f"{mask}_maeum_losses"].split(",")) == 3, mask
    for name in ("sft_tokens_per_s_ratio", "sft_peak_memory_ratio", "sft_tokens_per_s_maeum",
                 "sft_tokens_per_s_trl", "sft_peak_rss_mb_maeum", "sft_peak_rss_mb_trl"):  # fmt: skip
        assert float(values[name]) > 0, name
    assert values["masks_match"] == "True"
