"""A few steps of each GPU path of maeum on this machine's CUDA GPU, with no hub: the tiny offline twins
(randomly initialised, with the real models' tokenizers' special tokens), so it runs anywhere in about a
minute. One line per path: `ok` with its time per training step and peak GPU memory, or `failed` with the
one-line error; the exit status is 1 when any failed.

    python scripts/gpu_smoke.py               # every path
    python scripts/gpu_smoke.py --only qlora  # one of them (repeatable)
    python scripts/gpu_smoke.py --device cpu  # what a CPU can run of them (the test suite does this)

The paths: a chatbot with `trainer=gpu` in bf16-mixed (16-mixed where the GPU has no bf16), the same
under `trainer=fsdp` on one GPU, QLoRA (`model.quantization=nf4`, bitsandbytes) on the Qwen3 twin, a
classifier, an export of the chatbot and one reply from it, and a DPO step with LoRA. On a machine
without CUDA (and no `--device cpu`) it says so in one line and exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from hydra import compose, initialize_config_dir
from pytorch_lightning import Callback

STEPS = 4  # training steps per path; the first is left out of the step time (CUDA warm-up)


class StepTimer(Callback):
    """The wall time of each training step (`train.py` adds it through `+callbacks.smoke_timer`)."""

    times: ClassVar[list[float]] = []

    def on_train_batch_start(self, *args: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        StepTimer.times.append(time.perf_counter() - self._start)


@dataclass
class Context:
    device: str  # "cuda" or "cpu"
    precision: str  # the mixed precision of this GPU, or 32-true on CPU
    workdir: Path
    chatbot_ckpt: Path | None = None


def train_run(ctx: Context, name: str, *overrides: str) -> Path:
    """`maeum.train` in this process on `overrides`, a few steps; returns the run directory."""
    from maeum.paths import config_dir
    from maeum.train import train

    run_dir = ctx.workdir / name
    gpu = ["trainer=gpu", f"trainer.precision={ctx.precision}"] if ctx.device == "cuda" else ["trainer=cpu"]
    common = [
        f"paths.root_dir={run_dir}", f"paths.output_dir={run_dir}", f"paths.log_dir={run_dir}/logs",
        "extras.print_config=false", "logger=csv", "trainer.max_epochs=1",
        f"++trainer.limit_train_batches={STEPS}", "++trainer.limit_val_batches=1",
        "++trainer.limit_test_batches=1",
        "+callbacks.smoke_timer._target_=__main__.StepTimer",
    ]  # fmt: skip
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=[*gpu, *common, *overrides])
    train(cfg)
    return run_dir


def chatbot(ctx: Context) -> None:
    run = train_run(ctx, "chatbot", "experiment=chatbot/sample_tiny")
    ctx.chatbot_ckpt = run / "checkpoints" / "last.ckpt"


def fsdp(ctx: Context) -> None:
    if ctx.device != "cuda":
        raise SkippedError("FSDP needs a GPU")
    train_run(ctx, "fsdp", "experiment=chatbot/sample_tiny", "trainer=fsdp", "trainer.devices=1",
              f"trainer.precision={ctx.precision}")  # fmt: skip


def qlora(ctx: Context) -> None:
    if ctx.device != "cuda":
        raise SkippedError("QLoRA's 4-bit base needs CUDA")
    train_run(ctx, "qlora", "experiment=chatbot/sample_tiny", "backbone=tiny_qwen3",
              "data/template=chat_template", "model/peft=lora", "model.quantization=nf4",
              "data.max_length=128")  # fmt: skip


def classifier(ctx: Context) -> None:
    train_run(ctx, "classifier", "experiment=emotion/sample_tiny")


def export_and_reply(ctx: Context) -> None:
    import maeum
    from maeum.inference.hf_export import write_export

    if ctx.chatbot_ckpt is None:
        raise SkippedError("needs the chatbot path's checkpoint")
    out = ctx.workdir / "chatbot-hf"
    write_export(ctx.chatbot_ckpt, out)
    reply = maeum.chatbot(out, device=ctx.device).say("요즘 너무 힘들어").reply
    if not isinstance(reply, str):
        raise RuntimeError(f"the reply is not text: {reply!r}")


def dpo_lora(ctx: Context) -> None:
    train_run(ctx, "dpo", "experiment=preference/sample_tiny", "backbone=tiny_llama3",
              "data/template=chat_template", "model/peft=lora", "data.max_length=128")  # fmt: skip


class SkippedError(Exception):
    """A path this device cannot run (said, not failed)."""


PATHS: dict[str, Callable[[Context], None]] = {
    "chatbot": chatbot,
    "fsdp": fsdp,
    "qlora": qlora,
    "classifier": classifier,
    "export_reply": export_and_reply,
    "dpo_lora": dpo_lora,
}


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Everything this process (and its children) writes to stdout and stderr goes to `log` meanwhile:
    the training's own logs and tables stay out of the check's lines."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_path(name: str, ctx: Context) -> tuple[str, bool]:
    """One path's line, and whether it failed; its output goes to `<workdir>/<name>.log`."""
    StepTimer.times = []
    if ctx.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        with output_to(ctx.workdir / f"{name}.log"):
            PATHS[name](ctx)
    except SkippedError as why:
        return f"{name:<13} skipped: {why}", False
    except BaseException as error:  # a user error ends a run with SystemExit; say it and go on
        if isinstance(error, KeyboardInterrupt):
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{name:<13} failed: {type(error).__name__}: {message[:300]}", True
    steps = StepTimer.times[1:] or StepTimer.times
    mean_ms = 1000 * sum(steps) / max(len(steps), 1)
    took = f"{mean_ms:.0f} ms/step" if steps else f"{time.perf_counter() - start:.1f} s"
    memory = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if ctx.device == "cuda" else ""
    return f"{name:<13} ok: {took}{memory}", False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(PATHS), help="run only this path")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: nothing to check (run this on a GPU machine, or --device cpu)")
        return 0
    bf16 = args.device == "cuda" and torch.cuda.is_bf16_supported()
    precision = ("bf16-mixed" if bf16 else "16-mixed") if args.device == "cuda" else "32-true"
    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(f"device: {name}, torch {torch.__version__}, precision {precision}", flush=True)
    failed = False
    with tempfile.TemporaryDirectory(prefix="maeum-gpu-smoke-") as tmp:
        ctx = Context(args.device, precision, Path(tmp))
        for path in args.only or PATHS:
            line, bad = run_path(path, ctx)
            print(line, flush=True)
            failed |= bad
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
