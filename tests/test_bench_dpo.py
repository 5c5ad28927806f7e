"""The DPO benchmark script runs, and TRL's DPOTrainer trains on maeum's exact pairs with maeum's losses."""

from __future__ import annotations

import pytest
from helpers.bench import CHATBOTDATA, HAS_TRL, run_trl_bench

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # a smoke run of a benchmark script that trains 4 times

LAYOUTS = ("plain", "chat_template")


@pytest.mark.skipif(not HAS_TRL, reason="trl is not installed (the bench extra)")
@pytest.mark.skipif(not CHATBOTDATA.is_file(), reason=f"no real ChatbotData at {CHATBOTDATA}")
def test_bench_dpo_runs_and_trl_matches_maeums_losses() -> None:
    # without the Qwen3 tokenizer the chat_template layout falls back to tiny_llama3, which needs nothing
    values = run_trl_bench("bench_dpo.py", "--pairs", "12", "--batch-size", "4", "--steps", "3",
                           "--max-length", "96")  # fmt: skip
    for layout in LAYOUTS:
        assert values[f"{layout}_batches_identical"] == "True", layout
        assert values[f"{layout}_initial_weights_equal"] == "True", layout
        assert float(values[f"dpo_loss_max_abs_diff_{layout}"]) <= 1e-4, layout
        losses = values[f"{layout}_maeum_losses"].split(",")
        assert len(losses) == 3, layout
        assert abs(float(losses[0]) - 0.693147) < 1e-5, layout  # log 2: the model is its reference at step 1
    for name in ("dpo_tokens_per_s_ratio", "dpo_peak_memory_ratio", "dpo_tokens_per_s_maeum",
                 "dpo_tokens_per_s_trl", "dpo_peak_rss_mb_maeum", "dpo_peak_rss_mb_trl"):  # fmt: skip
        assert float(values[name]) > 0, name
    assert float(values["dpo_loss_max_abs_diff"]) <= 1e-4
    assert values["losses_match"] == "True"
