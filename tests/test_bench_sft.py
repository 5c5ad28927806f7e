"""The SFT benchmark script runs, and TRL's SFTTrainer trains on maeum's exact batches with maeum's losses."""

from __future__ import annotations

import pytest
from helpers.bench import CHATBOTDATA, HAS_TRL, TOKENIZERS, run_trl_bench

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a smoke run of a benchmark script that trains 8 times

PAIRINGS = ("last_sys", "all_sys")


@pytest.mark.skipif(not HAS_TRL, reason="trl is not installed (the bench extra)")
@pytest.mark.skipif(not CHATBOTDATA.is_file(), reason=f"no real ChatbotData at {CHATBOTDATA}")
@pytest.mark.skipif(not (TOKENIZERS / "qwen3-0.6b").is_dir(), reason=f"no Qwen3 tokenizer in {TOKENIZERS}")
def test_bench_sft_runs_and_trl_matches_maeums_masks() -> None:
    values = run_trl_bench("bench_sft.py", "--dialogues", "12", "--batch-size", "4", "--steps", "3",
                           "--max-length", "96")  # fmt: skip
    for mask in PAIRINGS:
        assert values[f"{mask}_batches_identical"] == "True", mask
        assert float(values[f"sft_loss_max_abs_diff_{mask}"]) <= 1e-4, mask
        assert len(values[f"{mask}_maeum_losses"].split(",")) == 3, mask
    for name in ("sft_tokens_per_s_ratio", "sft_peak_memory_ratio", "sft_tokens_per_s_maeum",
                 "sft_tokens_per_s_trl", "sft_peak_rss_mb_maeum", "sft_peak_rss_mb_trl"):  # fmt: skip
        assert float(values[name]) > 0, name
    assert values["masks_match"] == "True"
