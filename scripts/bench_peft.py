"""Benchmark: LoRA (maeum's `add_adapters`) against full fine-tuning, peak memory and step time, on the CPU.

One process. The model is a randomly initialised `Qwen2ForCausalLM` of Qwen/Qwen2.5-0.5B-Instruct's real
configuration (its config.json: 24 layers x 896, 14 query and 2 key/value heads, MLP 4864, vocabulary
151,936, tied embeddings; no weights exist here), fp32, `--layers` deep, with the real tokenizer
(`--tokenizer`, default `$MAEUM_CHAT_TOKENIZERS/qwen2.5-0.5b-instruct`). Both sides build it with the same
seed, one after the other (only one model is alive at a time), and `base_fingerprint` checks that they
start from the same weights.

The batch: `--batch-size` real ChatbotData dialogues (a seeded sample, `read_chatbotdata`, condition = the
label's name) encoded by `encode_dialogues` in the tokenizer's chat template (`ChatTemplate()`),
`label_mask="last_sys"`, `--max-length`, padded by `DialogueCollator`: the same batch for every step of
both sides. A step is forward (the model's own loss, as `ChatLM` computes it), backward, AdamW step,
`zero_grad`.

* full: AdamW over every parameter (maeum's `param_groups`).
* lora: `add_adapters(model, "lora", task_type="CAUSAL_LM")` (maeum's defaults: r 8, alpha 16, dropout
  0.05, all linear layers), AdamW over the trainable (adapter) parameters only.

Each side runs a warm-up step and one more under the memory profiler, then `--steps` timed steps. LoRA runs
first (`--order`), so that nothing the full side leaves behind can make LoRA look smaller.

Memory is the peak above the weights (measured once the model is built, before the first step, so that the
gradients, AdamW's states and the activations all count), two ways:

* `*_peak_tensor_mb`, which `lora_peak_memory_ratio` uses: `torch.profiler` with `profile_memory=True`
  over the warm-up and the following step; the highest "Total Allocated" of torch's CPU allocator minus its
  value when the profile began. That counter only counts blocks allocated while memory is profiled, and it
  carries over from one profile to the next, hence the subtraction. Exact for tensors, blind to what torch
  does not allocate (Python objects, glibc's caches), and untouched by the other side's leftovers.
* `*_peak_rss_mb`, a cross-check of the whole process: Linux's VmHWM over the timed steps (reset by
  writing 5 to /proc/self/clear_refs) minus VmRSS once the model is built. Before both readings the
  garbage collector runs and glibc's `malloc_trim(0)` hands freed heap pages back, so that memory glibc
  keeps neither inflates a baseline nor hides growth.

`lora_step_time_ratio` is LoRA's fastest timed step over the full side's. The sides cannot alternate (both
models together would need about 13 GB), so they run minutes apart, and on a CPU that other jobs share the
time ratio moves with the load; `*_cpu_per_wall` (the process's CPU seconds per second over the timed
steps, about the thread count when nothing else runs) and `*_loadavg_1m` say how shared the CPU was. The
memory figures do not depend on the load or on the order. Ratios are what carries to another machine; the
MB and seconds are this one's. Linux only (/proc).

    python scripts/bench_peft.py                       # 24 layers: ~10 GB at peak, ~10 minutes on 2 cores
    python scripts/bench_peft.py --threads 1           # on a CPU that other jobs share (docs/benchmark.md)
    python scripts/bench_peft.py --layers 2 --steps 1 --batch-size 2   # the smoke test's shallow copy
    python scripts/bench_peft.py --order full,lora     # the other order, to see that it does not matter
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from bench_common import DEFAULT_DATA, SHARED, clear_peak_rss, memory_events, proc_status_kb, trim_heap
from torch import nn
from transformers import PreTrainedTokenizerBase, Qwen2Config, Qwen2ForCausalLM

from maeum.backbones.adapters import add_adapters, base_fingerprint, trainable_counts
from maeum.backbones.tiny_chat import CHAT_TOKENIZERS_ENV
from maeum.backbones.tokenizer_repairs import load_local_tokenizer
from maeum.data.dialogue.datamodule import DialogueCollator
from maeum.data.dialogue.encoding import encode_dialogues
from maeum.data.dialogue.readers import read_chatbotdata
from maeum.data.dialogue.records import IGNORE_INDEX, ChatTemplate
from maeum.models.optim import param_groups

TOKENIZER_FOLDER = "qwen2.5-0.5b-instruct"
# Qwen/Qwen2.5-0.5B-Instruct's config.json
QWEN2_5_0_5B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1e6,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
}
MB = 2**20
Batch = dict[str, torch.Tensor]


def default_tokenizer() -> Path:
    root = os.environ.get(CHAT_TOKENIZERS_ENV)
    return (Path(root).expanduser() if root else SHARED / "chat-tokenizers") / TOKENIZER_FOLDER


# ----------------------------------------------------------------------------------------------- memory
def rss_mb() -> float:
    trim_heap()
    return proc_status_kb("VmRSS") / 1024


def reset_peak_rss() -> None:
    trim_heap()
    clear_peak_rss()


def peak_rss_mb() -> float:
    return proc_status_kb("VmHWM") / 1024


def peak_tensor_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes of tensors allocated while `fn` runs above those alive when it starts (module docstring)."""
    cpu = sorted((e for e in memory_events(fn) if e["args"]["Device Type"] == 0), key=lambda e: e["ts"])
    if not cpu:
        return 0
    start = cpu[0]["args"]["Total Allocated"] - cpu[0]["args"]["Bytes"]
    return max(e["args"]["Total Allocated"] for e in cpu) - start


# ------------------------------------------------------------------------------------------ model, data
def build_model(layers: int, seed: int) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(Qwen2Config(**{**QWEN2_5_0_5B, "num_hidden_layers": layers})).train()


def chatbot_batch(
    data: Path, tokenizer: PreTrainedTokenizerBase, size: int, max_length: int, seed: int
) -> Batch:
    """`size` ChatbotData dialogues (a seeded sample) as one padded batch in the chat template."""
    dialogues = random.Random(seed).sample(read_chatbotdata(data).records, size)
    rows = encode_dialogues(dialogues, tokenizer, label_mask="last_sys", max_length=max_length,
                            template=ChatTemplate())  # fmt: skip
    rows = [{**r, "response_input_ids": r["input_ids"], "response_labels": r["labels"]} for r in rows]
    batch = DialogueCollator(tokenizer)(rows)
    return {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}


# ------------------------------------------------------------------------------------------------ sides
def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> float:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def timed_steps(
    model: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, steps: int
) -> tuple[list[float], float]:
    """Each step's seconds, and the process's CPU seconds per wall second over them (about the thread
    count on an idle machine, less when other jobs take the cores)."""
    times = []
    cpu = time.process_time()
    for _ in range(steps):
        start = time.perf_counter()
        train_step(model, optimizer, batch)
        times.append(time.perf_counter() - start)
    return times, (time.process_time() - cpu) / sum(times)


def run_side(name: str, args: argparse.Namespace, batch: Batch) -> dict[str, float | str]:
    """Build one side's model, measure its memory and time its steps; print and return its figures."""
    model = build_model(args.layers, args.seed)
    fingerprint = base_fingerprint(model)
    if name == "lora":
        model = add_adapters(model, "lora", task_type="CAUSAL_LM")
    trainable, total = trainable_counts(model)
    optimizer = torch.optim.AdamW(param_groups(model), lr=args.lr)
    weights_rss = rss_mb()
    losses: list[float] = []

    def warm_up() -> None:  # the step that creates AdamW's states, and one in the steady state
        losses.extend(train_step(model, optimizer, batch) for _ in range(2))

    tensor_peak = peak_tensor_bytes(warm_up) / MB
    reset_peak_rss()
    times, cpu_per_wall = timed_steps(model, optimizer, batch, args.steps)
    rss_peak = peak_rss_mb() - weights_rss
    print(f"{name}_base_fingerprint={fingerprint}")
    print(f"{name}_trainable_params={trainable}")
    print(f"{name}_params={total}")
    print(f"{name}_weights_rss_mb={weights_rss:.0f}")
    print(f"{name}_peak_tensor_mb={tensor_peak:.0f}")
    print(f"{name}_peak_rss_mb={rss_peak:.0f}")
    print(f"{name}_step_s={min(times):.2f}")
    print(f"{name}_step_s_all=" + ",".join(f"{t:.2f}" for t in times))
    print(f"{name}_cpu_per_wall={cpu_per_wall:.2f} {name}_loadavg_1m={os.getloadavg()[0]:.2f}")
    print(f"{name}_warmup_losses=" + ",".join(f"{x:.4f}" for x in losses))
    return {
        "trainable": trainable, "params": total, "tensor_mb": tensor_peak, "rss_mb": rss_peak,
        "step_s": min(times), "first_loss": losses[0], "fingerprint": fingerprint,
    }  # fmt: skip


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ChatbotData.csv")
    parser.add_argument("--tokenizer", type=Path, default=default_tokenizer(), help="Qwen2.5's tokenizer dir")
    parser.add_argument("--layers", type=int, default=24, help="decoder layers (24: the real depth)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per side, after two that are not")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--order", default="lora,full", choices=("lora,full", "full,lora"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path, what in ((args.data, "--data ChatbotData.csv"), (args.tokenizer, "--tokenizer DIR")):
        if not path.exists():
            raise SystemExit(f"{path}: not found; point {what} at it")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"cpu={cpu_model()} cpu_count={os.cpu_count()} torch_threads={torch.get_num_threads()}")
    print(f"torch={torch.__version__} transformers={transformers.__version__}")
    print(f"process_rss_mb={rss_mb():.0f}")
    tokenizer = load_local_tokenizer(args.tokenizer)
    batch = chatbot_batch(args.data, tokenizer, args.batch_size, args.max_length, args.seed)
    shape = "x".join(map(str, batch["input_ids"].shape))
    targets = int((batch["labels"] != IGNORE_INDEX).sum())
    print(f"layers={args.layers} batch_shape={shape} target_tokens={targets} steps={args.steps}")
    print(f"order={args.order} lr={args.lr} seed={args.seed}")
    results = {}
    for name in args.order.split(","):
        results[name] = run_side(name, args, batch)
        print(f"rss_after_{name}_freed_mb={rss_mb():.0f}")  # the side's model and optimizer are gone
    report(results["lora"], results["full"])


def report(lora: dict[str, float | str], full: dict[str, float | str]) -> None:
    """The comparison lines: the sides' common start, then the fraction and the ratios."""
    print(f"same_initial_weights={lora['fingerprint'] == full['fingerprint']}")
    print(f"first_loss_abs_diff={abs(lora['first_loss'] - full['first_loss']):.2e}")
    print(f"lora_trainable_fraction={lora['trainable'] / lora['params']:.5f}")
    print(f"lora_peak_memory_ratio={lora['tensor_mb'] / full['tensor_mb']:.3f}")
    print(f"lora_peak_rss_ratio={lora['rss_mb'] / full['rss_mb']:.3f}")
    print(f"lora_step_time_ratio={lora['step_s'] / full['step_s']:.3f}")


if __name__ == "__main__":
    main()
