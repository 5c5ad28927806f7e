"""The pretraining benchmark script runs maeum's loop at both shapes (KoGPT2's with a short block) on real
Korean text, and prints every figure it promises, in sane ranges (docs/benchmark.md gives the real ones)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.configs import REPO, SHARED_DATA

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # a smoke run of a benchmark script

TEXT = SHARED_DATA / "korean-text" / "kommongen.txt"


@pytest.mark.skipif(not TEXT.is_file(), reason=f"{TEXT} is absent (the open Korean text)")
def test_bench_pretrain_prints_tokens_per_second_mfu_and_loader_overhead() -> None:
    cmd = [sys.executable, str(REPO / "scripts" / "bench_pretrain.py"), "--steps", "2", "--warmup", "1",
           "--threads", "1", "--files", str(TEXT), "--block-kogpt2", "64", "--batch-size-kogpt2", "1",
           "--matmul-repeats", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    values = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    first = {name: value.split()[0] for name, value in values.items()}
    assert first["torch_threads"] == "1"
    assert float(first["matmul_peak_gflops_fp32"]) > 0
    assert first["matmul_peak_gflops_bf16"] == "not" or float(first["matmul_peak_gflops_bf16"]) > 0
    for shape in ("small", "kogpt2"):
        assert float(first[f"pretrain_tokens_per_s_{shape}"]) > 0
        assert 0 < float(first[f"pretrain_mfu_{shape}"]) < 1.5, values[f"pretrain_mfu_{shape}"]
        assert 0 <= float(first[f"loop_overhead_{shape}"]) < 1
        assert "loadavg_1m_" + shape in values
    assert 0 <= float(first["loader_overhead"]) < 1
    assert int(first["params_small"]) < 2_000_000 < 100_000_000 < int(first["params_kogpt2"])
    assert (
        "vocab=51200" in values["shape_kogpt2"] and "layers=12 width=768 heads=12" in values["shape_kogpt2"]
    )
    assert "block=256 batch=32" in values["shape_small"]
