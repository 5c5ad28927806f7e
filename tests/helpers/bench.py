"""Running a benchmark script as its smoke test does: a subprocess of `scripts/<name>.py` (so that the
script's folder is on its `sys.path`, for `bench_common`), its `name=value` lines read back."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from helpers.configs import REPO, SHARED_DATA

CHATBOTDATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"
TOKENIZERS = SHARED_DATA / "chat-tokenizers"
HAS_TRL = importlib.util.find_spec("trl") is not None  # the `bench` extra (maeum itself never imports it)


def run_trl_bench(script: str, *args: str) -> dict[str, str]:
    """Run `scripts/<script>` (maeum against TRL) on the real ChatbotData with `args`, the chat tokenizers
    at `$MAEUM_CHAT_TOKENIZERS` (the shared ones by default); assert that it exits 0 and return its
    `name=value` lines."""
    cmd = [sys.executable, str(REPO / "scripts" / script), "--data", str(CHATBOTDATA), *args]
    tokenizers = os.environ.get("MAEUM_CHAT_TOKENIZERS", str(TOKENIZERS))
    env = {**os.environ, "MAEUM_CHAT_TOKENIZERS": tokenizers}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and " " not in line)
