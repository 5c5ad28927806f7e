"""Benchmark: CPU training of a KoGPT2-shaped GPT-2 in bf16-mixed against fp32, on real ChatbotData batches.

One process, one randomly initialised GPT-2 of KoGPT2's shape (12 layers x 768, vocabulary 51,200), both
precisions starting from the same weights and taking the same AdamW steps over the same batches:
`DialogueDataModule`'s batches of the real ChatbotData (Q -> A with the sentiment id as condition,
`tiny_gpt2`'s tokenizer, whose special ids are KoGPT2's). bf16 runs inside Lightning's own
`MixedPrecision("bf16-mixed", "cpu")` context, exactly what `trainer.precision=bf16-mixed` does on a CPU.

Prints `bf16_cpu_speedup` (non-pad tokens per second, bf16 over fp32, after one warm-up step each) and
`bf16_loss_max_abs_diff` (the largest difference of the two loss curves over the first `--steps` steps).

    python scripts/bench_precision.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--steps 8]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, Subset
from transformers import GPT2Config, GPT2LMHeadModel

from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.readers import read_chatbotdata

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chatbotdata" / "ChatbotData.csv"


Batch = dict[str, torch.Tensor]


def train(
    model: GPT2LMHeadModel, batches: list[Batch], context: Callable[[], AbstractContextManager]
) -> tuple[list[float], float, int]:
    """AdamW steps over `batches` (the first one a warm-up): the losses, timed seconds and timed tokens."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    losses, seconds, tokens = [], 0.0, 0
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        with context():
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:  # the first step is the warm-up (allocations, kernel selection)
            seconds += time.perf_counter() - start
            tokens += int(batch["attention_mask"].sum())
        losses.append(float(loss))
        step_s = time.perf_counter() - start
        print(f"  step {i}: loss {losses[-1]:.4f}, {step_s:.1f} s", file=sys.stderr, flush=True)
    return losses, seconds, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=8, help="training steps compared (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")

    datamodule = DialogueDataModule(
        reader=lambda path: read_chatbotdata(path, condition="id"), path=str(args.data),
        tokenizer="tiny_gpt2", max_length=64, batch_size=args.batch_size, cache_dir=None,
    )  # fmt: skip
    datamodule.setup("fit")
    rows = Subset(datamodule.datasets["train"], range(args.batch_size * (args.steps + 1)))
    loader = DataLoader(rows, batch_size=args.batch_size, collate_fn=datamodule.collator())
    batches = [{k: batch[k] for k in ("input_ids", "attention_mask", "labels")} for batch in loader]

    torch.manual_seed(0)
    heads = max(1, args.width // 64)  # KoGPT2: 768 / 64 = 12 heads
    config = GPT2Config(vocab_size=51200, n_embd=args.width, n_layer=args.layers, n_head=heads)
    fp32_model = GPT2LMHeadModel(config)
    bf16_model = copy.deepcopy(fp32_model)
    fp32_losses, fp32_s, tokens = train(fp32_model, batches, nullcontext)
    bf16_losses, bf16_s, _ = train(bf16_model, batches, MixedPrecision("bf16-mixed", "cpu").forward_context)

    print(f"model=gpt2 layers={args.layers} width={args.width} vocab=51200")
    print(f"torch_threads={torch.get_num_threads()}")
    print(f"steps={args.steps} batch_size={args.batch_size} tokens_per_step={tokens / args.steps:.0f}")
    print(f"fp32_tokens_per_s={tokens / fp32_s:.0f}")
    print(f"bf16_tokens_per_s={tokens / bf16_s:.0f}")
    print("fp32_losses=" + " ".join(f"{x:.4f}" for x in fp32_losses[1:]))
    print("bf16_losses=" + " ".join(f"{x:.4f}" for x in bf16_losses[1:]))
    print(f"bf16_cpu_speedup={fp32_s / bf16_s:.2f}")
    diff = max(abs(a - b) for a, b in zip(fp32_losses, bf16_losses, strict=True))
    print(f"bf16_loss_max_abs_diff={diff:.4f}")


if __name__ == "__main__":
    main()
