"""Benchmark: maeum's pretraining loop on the CPU, tokens per second and model FLOPs utilisation (MFU).

One process, fp32. It measures:

* `matmul_peak_gflops_fp32`: the CPU's matmul peak, `torch.matmul` of square fp32 matrices (2048 and
  4096), the best of `--matmul-repeats` timings of each, 2·n³ FLOPs, on the process's threads
  (`torch.get_num_threads()`, `--threads`). It is measured before and after the training runs, and the
  best of all is the peak (on a shared CPU, the quietest moment is the closest to the hardware).
  `matmul_peak_gflops_bf16` the same in bf16 where the CPU has native bf16 (`avx512_bf16` or `amx_bf16`
  among /proc/cpuinfo's flags); otherwise a line says that bf16 is emulated and it is skipped. MFU is
  against the fp32 peak, because the loop trains in fp32 (`trainer.precision=32-true`).
* `pretrain_tokens_per_s_<shape>`: maeum's loop, i.e. the `pretrain/korean_gpt2_small` experiment's
  config composed as `maeum-train` composes it (`PretrainLM` with its AdamW, cosine schedule and warm-up,
  `TextDataModule` with its `DrawSampler` and `BlockCollator`, the trainer's `gradient_clip_val=1.0`),
  driven by a real `pytorch_lightning.Trainer.fit` (CPU, `max_steps`, no logger, no checkpointing, no
  progress bar, no validation: `limit_val_batches=0`) over causal blocks of real text
  (`--files`, default a 5 MB subset of `../shared/data/korean-text`; never `xpersona_ko.txt`, which is
  fine-tuning data), tokenized by `tiny_gpt2`'s tokenizer (5,350 ids, KoGPT2's special tokens). The
  clock (`time.perf_counter`) runs from the end of the last `--warmup` step to the end of the last step,
  so the loader, Lightning's loop and the optimizer step are all inside it; tokens are the timed steps'
  attention-mask sums. Two shapes:
    - `small`: korean_gpt2_small's (tiny_gpt2's architecture: GPT-2, 2 layers × 128, 2 heads), block 256,
      batch 32 as in the experiment;
    - `kogpt2`: skt/kogpt2-base-v2's (GPT-2, 12 layers × 768, 12 heads, 1,024 positions, vocabulary
      51,200), random weights (`from_scratch`), `--block-kogpt2` × `--batch-size-kogpt2`. The data keep
      tiny_gpt2's ids and the model's vocabulary is padded to 51,200 (`model.backbone_config.vocab_size`,
      which `build_model` honours when it is at least the tokenizer's): the embedding and the tied LM head
      have KoGPT2's size, so the FLOPs and the time are KoGPT2's. The loss values are not KoGPT2's.
* `pretrain_mfu_<shape>` = 6·N·tokens_per_s / fp32 peak, N = every parameter, the token and position
  embeddings included: the LM head is tied to the token embedding and is a real d×V matmul per token in
  the forward and both backward products (6·V·d), so counting it is fair for GPT-2 (the position
  embedding, 1024×d, is a rounding error). Attention's own matmuls (QKᵀ and ·V, 12·L·d·T per token) are not
  counted, nor layer norms, GELU, the softmax and AdamW: MFU is a lower bound.
* `loader_overhead`: the share of the timed wall clock spent fetching batches, at the small shape, where
  it matters most: Lightning's `SimpleProfiler`'s `[_TrainingEpochLoop].train_dataloader_next` for the
  timed steps (the loader has a length, so Lightning fetches each batch synchronously between one step's
  `on_train_batch_end` and the next step's `on_train_batch_start`: the sampler, `TextBlocks` and
  `BlockCollator`). `loop_overhead_<shape>`: the share of the wall clock outside the batch hooks (the fetch,
  plus Lightning's own bookkeeping between steps).

`--profile N` adds a `torch.profiler` table of the top ops by self CPU time over N steps of each shape
(after the warm-up; those steps are timed too, and run slower): where the time goes.

Everything printed is `name: value`; the figures are this machine's, and they move with the load of a
shared CPU: `loadavg_1m` is printed with every measurement (`os.getloadavg`), and
`cpu_per_wall_<shape>` (the process's CPU seconds per wall second over the timed steps, about the thread
count when nothing else runs).

    python scripts/bench_pretrain.py                            # both shapes, ~8 minutes on 2 cores
    python scripts/bench_pretrain.py --shapes small --profile 5
    python scripts/bench_pretrain.py --steps 2 --warmup 1 --shapes small,kogpt2 --block-kogpt2 64 \
        --batch-size-kogpt2 1 --files ../shared/data/korean-text/dongbaekkot.txt   # the smoke test's
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import transformers
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.profilers import SimpleProfiler

import maeum.runtime  # noqa: F401  (registers the ${maeum.*} resolvers)
from maeum.paths import config_dir
from maeum.runs.kinds import model_config

TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "korean-text"
DEFAULT_FILES = ("kornlu.txt", "klue_dev.txt", "3i4k.txt")  # 5.2 MB: tokenized in seconds
EXCLUDED = "xpersona_ko.txt"  # fine-tuning data, never pretraining data (conf/data/text/korean_text.yaml)
TOKENIZER = "tiny_gpt2"
KOGPT2 = {"n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024, "vocab_size": 51200}
FETCH = "[_TrainingEpochLoop].train_dataloader_next"
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def say(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def loadavg() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# ------------------------------------------------------------------------------------------- matmul peak
def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def native_bf16() -> list[str]:
    """The CPU's native bf16 instructions (empty: bf16 matmuls would be emulated in fp32)."""
    return [flag for flag in BF16_FLAGS if flag in cpu_flags()]


def matmul_gflops(dtype: torch.dtype, sizes: Sequence[int], repeats: int) -> float:
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        torch.matmul(a, b)  # warm-up: the kernel's buffers and packing
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


# -------------------------------------------------------------------------------------------- the loop
class StepClock(Callback):
    """Wall-clock times of every batch's start and end, the tokens of each batch, and process CPU time."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.tokens: list[int] = []
        self.cpu: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.starts.append(time.perf_counter())
        self.tokens.append(int(batch["attention_mask"].sum()))

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, i: int
    ) -> None:
        self.ends.append(time.perf_counter())
        self.cpu.append(time.process_time())


class OpProfile(Callback):
    """`torch.profiler` over `steps` batches after `warmup` ones: the top ops by self CPU time."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.first, self.last = warmup, warmup + steps - 1
        self.prof: torch.profiler.profile | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.first:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.prof.__enter__()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any, i: int
    ) -> None:
        if self.prof is not None and trainer.global_step - 1 == self.last:
            self.prof.__exit__(None, None, None)


def compose_run(
    files: Sequence[str], run_dir: Path, block: int, batch: int, steps: int, backbone_config: dict[str, int]
) -> Any:
    overrides = [
        "experiment=pretrain/korean_gpt2_small",
        f"paths.root_dir={run_dir}",
        f"paths.output_dir={run_dir}",
        f"paths.log_dir={run_dir}/logs",
        "extras.print_config=false",
        f"data.path=[{','.join(repr(f) for f in files)}]",
        f"data.tokenizer={TOKENIZER}",
        f"data.block_size={block}",
        f"data.batch_size={batch}",
        f"trainer.max_steps={steps}",
    ]
    overrides += [f"++model.backbone_config.{key}={value}" for key, value in backbone_config.items()]
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose("train", overrides=overrides)


def run_shape(
    name: str, args: argparse.Namespace, files: Sequence[str], block: int, batch: int, arch: dict[str, int]
) -> dict[str, float]:
    total = args.warmup + args.steps
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_run(files, Path(tmp), block, batch, total, arch)
        pl.seed_everything(cfg.seed, verbose=False)
        data = instantiate(cfg.data)
        model = instantiate(model_config(cfg), **data.model_kwargs())
        data.setup("fit")
        blocks = len(data.datasets["train"])
        if blocks < total * batch:
            say(
                f"note_{name}",
                f"{blocks} blocks for {total} steps of {batch}: the loop starts a second epoch",
            )
        clock, profiler = StepClock(args.warmup), SimpleProfiler()
        callbacks: list[Callback] = [clock]
        ops = OpProfile(args.warmup, args.profile) if args.profile else None
        if ops is not None:
            callbacks.append(ops)
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            precision=cfg.trainer.precision,
            gradient_clip_val=cfg.trainer.gradient_clip_val,
            max_steps=total,
            max_epochs=-1,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            profiler=profiler,
            callbacks=callbacks,
            default_root_dir=tmp,
        )
        start_load = loadavg()
        trainer.fit(model, datamodule=data)
        params = sum(p.numel() for p in model.parameters())
        embeddings = sum(m.weight.numel() for m in (model.model.transformer.wte, model.model.transformer.wpe))
    w = args.warmup
    wall = clock.ends[-1] - clock.ends[w - 1]
    steps_s = [e - s for s, e in zip(clock.starts[w:], clock.ends[w:], strict=True)]
    fetch = sum(profiler.recorded_durations[FETCH][w:total])
    result = {
        "params": params,
        "tokens_per_step": sum(clock.tokens[w:]) / args.steps,
        "tokens_per_s": sum(clock.tokens[w:]) / wall,
        "step_s": wall / args.steps,
        "batch_s_min": min(steps_s),
        "loader": fetch / wall,
        "loop": 1 - sum(steps_s) / wall,
        "cpu_per_wall": (clock.cpu[-1] - clock.cpu[w - 1]) / wall,
    }
    say(f"params_{name}", f"{params} ({embeddings} in the token and position embeddings)")
    config = model.model.config
    say(f"shape_{name}", f"layers={config.n_layer} width={config.n_embd} heads={config.n_head} "
        f"vocab={config.vocab_size} block={block} batch={batch}")  # fmt: skip
    say(f"config_{name}", f"attn_implementation={config._attn_implementation} "
        f"activation={config.activation_function} dropout={config.resid_pdrop},{config.embd_pdrop},"
        f"{config.attn_pdrop} adamw_fused={cfg.model.optimizer.get('fused', False)}")  # fmt: skip
    say(f"step_s_{name}", f"{result['step_s']:.4f} (fastest batch {result['batch_s_min']:.4f})")
    say(f"pretrain_tokens_per_s_{name}", f"{result['tokens_per_s']:.0f}")
    say(f"loader_overhead_{name}", f"{result['loader']:.4f}")
    say(f"loop_overhead_{name}", f"{result['loop']:.4f}")
    say(f"cpu_per_wall_{name}", f"{result['cpu_per_wall']:.2f}")
    say(f"loadavg_1m_{name}", f"{start_load} at the start, {loadavg()} at the end")
    if ops is not None and ops.prof is not None:
        print(f"top ops of the {name} shape by self CPU time, {args.profile} steps:")
        print(
            ops.prof.key_averages().table(
                sort_by="self_cpu_time_total", row_limit=15, max_name_column_width=40
            )
        )
    return result


def text_files(spec: str | None) -> list[str]:
    if spec:
        found = list(
            dict.fromkeys(f for part in spec.split(",") for f in sorted(glob.glob(os.path.expanduser(part))))
        )
    else:
        found = [str(TEXT / name) for name in DEFAULT_FILES if (TEXT / name).is_file()]
    return [f for f in found if Path(f).name != EXCLUDED]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per shape")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (at least 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--shapes", default="small,kogpt2")
    parser.add_argument("--files", default=None, help="text files or globs, comma-separated")
    parser.add_argument("--batch-size-kogpt2", type=int, default=8)
    parser.add_argument("--block-kogpt2", type=int, default=512)
    parser.add_argument("--steps-kogpt2", type=int, default=3, help="timed steps at KoGPT2's shape")
    parser.add_argument("--matmul-repeats", type=int, default=5)
    parser.add_argument("--profile", type=int, default=0, help="torch.profiler over N steps of each shape")
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    if unknown := set(shapes) - {"small", "kogpt2"}:
        parser.error(f"--shapes: unknown {sorted(unknown)}; choose small, kogpt2")
    args.warmup = max(1, args.warmup)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    say("versions", f"python {platform.python_version()} torch {torch.__version__} "
        f"transformers {transformers.__version__} lightning {pl.__version__}")  # fmt: skip
    say("torch_threads", torch.get_num_threads())
    say("cpu_count", os.cpu_count())
    say("loadavg_1m", loadavg())
    sizes = (2048, 4096)
    peak = matmul_gflops(torch.float32, sizes, args.matmul_repeats)
    say("matmul_peak_gflops_fp32_before", f"{peak:.1f} (loadavg_1m {loadavg()})")
    native = native_bf16()
    if native:
        bf16 = matmul_gflops(torch.bfloat16, sizes, args.matmul_repeats)
        say("matmul_peak_gflops_bf16", f"{bf16:.1f} (native: {', '.join(native)}; loadavg_1m {loadavg()})")
    else:
        say("matmul_peak_gflops_bf16", f"not native (no {' or '.join(BF16_FLAGS)} in /proc/cpuinfo): skipped")

    files = text_files(args.files)
    if not files:
        say("pretrain", f"skipped: no text files ({args.files or TEXT} is absent)")
        return 0
    say("text_files", " ".join(Path(f).name for f in files))
    results: dict[str, dict[str, float]] = {}
    for shape in shapes:
        if shape == "small":
            results[shape] = run_shape("small", args, files, 256, 32, {})
        else:
            steps = args.steps
            args.steps = min(args.steps_kogpt2, steps)
            results[shape] = run_shape(
                "kogpt2", args, files, args.block_kogpt2, args.batch_size_kogpt2, KOGPT2
            )
            args.steps = steps

    after = matmul_gflops(torch.float32, sizes, args.matmul_repeats)
    say("matmul_peak_gflops_fp32_after", f"{after:.1f} (loadavg_1m {loadavg()})")
    peak = max(peak, after)
    say("matmul_peak_gflops_fp32", f"{peak:.1f}")
    for shape, r in results.items():
        say(f"pretrain_mfu_{shape}", f"{6 * r['params'] * r['tokens_per_s'] / (peak * 1e9):.3f}")
    if "small" in results:
        say("loader_overhead", f"{results['small']['loader']:.4f}")
    say("loadavg_1m", loadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
