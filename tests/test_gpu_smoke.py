"""`scripts/gpu_smoke.py`, the GPU check users run on their own GPU machine: here, without CUDA, its one
line, and every path a CPU can run (`--device cpu`), each reported on its own line."""

from __future__ import annotations

import subprocess

import pytest
import torch
from helpers import entry_points
from helpers.configs import REPO

SCRIPT = REPO / "scripts" / "gpu_smoke.py"


def smoke(*args: str) -> subprocess.CompletedProcess:
    return entry_points.run(SCRIPT, *args, cwd=REPO)


@pytest.mark.unit
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would run")
def test_without_cuda_it_says_so_in_one_line() -> None:
    proc = smoke()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "no CUDA device here: nothing to check (run this on a GPU machine, or --device cpu)"
    ]


@pytest.mark.e2e
def test_on_a_cpu_every_path_a_cpu_can_run_is_ok_and_the_gpu_only_ones_are_skipped() -> None:
    proc = smoke("--device", "cpu")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert list(lines) == ["chatbot", "fsdp", "qlora", "classifier", "export_reply", "dpo_lora"]
    cpu_paths = ("chatbot", "classifier", "export_reply", "dpo_lora")
    assert all(" ok: " in lines[name] for name in cpu_paths), lines
    assert "ms/step" in lines["chatbot"]
    assert "skipped: FSDP needs a GPU" in lines["fsdp"] and "skipped: QLoRA" in lines["qlora"]
