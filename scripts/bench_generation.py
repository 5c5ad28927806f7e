"""Benchmark: maeum's test-time generation against `transformers.pipeline("text-generation")`.

One process, one model, the same `--n` ChatbotData prompts (the first test dialogues of maeum's split, Q → A
with the sentiment id as condition, as `experiment=leaderboard/chatbotdata_tiny` reads them), each the
dialogue without its final sys turn. The model is `tiny_gpt2` fine-tuned for `--steps` AdamW steps of
`ChatLM` on the training split (seeded), so that its replies stop at `</s>` after realistic lengths, as a
trained chatbot's do; a randomly initialised model rarely stops. Both sides decode greedily, up to
`--new-tokens` new tokens (min_new_tokens 0), stop at `ReplyGenerator.stop_ids` (`</s>`, `<usr>`) and pad
with the tokenizer's pad id.

* maeum: `ReplyGenerator.generate` (`encode_prompt` ids, sorted by length, left-padded batches of
  `--batch-sizes`, `model.generate` with the KV cache, replies cleaned by `ReplyGenerator.clean`).
* pipeline: `pipe(texts, batch_size=B, do_sample=False, max_new_tokens=..., eos_token_id=stop_ids,
  pad_token_id=..., return_tensors=True)` over the prompts in their order, at each of
  `--pipeline-batch-sizes` (its tokenizer pads on the left). A prompt is the template's text,
  `<usr>{question}<unused1>{condition}<sys>` (what the KoGPT2-chatbot notebooks write), checked to
  tokenize, without added special tokens, to exactly maeum's prompt ids. The generated ids after the padded
  prompt are cleaned by the same `ReplyGenerator.clean`.

Every reply must be the same text on both sides and at every batch size (`replies_identical`, exit status 1
otherwise). Each time is the fastest of `--repeats` rounds that run every side in turn, maeum's and the
pipeline's interleaved and every other round in reverse, after one warm-up of each; `gen_vs_pipeline_ratio`
is maeum's replies per second at its fastest batch size over the pipeline's at its.

    python scripts/bench_generation.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--n 1000]
    python scripts/bench_generation.py --threads 1   # on a CPU that other jobs share (see docs/benchmark.md)
    python scripts/bench_generation.py --decode-layers 12 --decode-width 768 --n 200 --model-dir /tmp/12x768

`--decode-layers/--decode-width` fine-tune and decode a randomly initialised GPT-2 of that shape (KoGPT2 is
12 x 768) over `tiny_gpt2`'s vocabulary instead of `tiny_gpt2` itself (on one CPU core, about 13 s a
fine-tuning step). `--model-dir` keeps the fine-tuned model, so that a second run skips the fine-tuning.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase, pipeline

from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.readers import read_chatbotdata
from maeum.data.dialogue.records import Dialogue, Template
from maeum.inference.generation import ReplyGenerator
from maeum.models.chat_lm import ChatLM

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chatbotdata" / "ChatbotData.csv"
MAX_LENGTH = 64  # conf/experiment/leaderboard/chatbotdata_tiny.yaml


def finetune(
    datamodule: DialogueDataModule, steps: int, lr: float, backbone_config: dict[str, int] | None
) -> PreTrainedModel:
    """`tiny_gpt2` (or a fresh GPT-2 of `backbone_config`'s shape) after `steps` AdamW steps of `ChatLM`."""
    module = ChatLM(
        backbone="tiny_gpt2",
        optimizer={},
        pretrained=backbone_config is None,
        backbone_config=backbone_config,
    )
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr)
    loader = datamodule.train_dataloader()
    module.train()
    step, epoch, losses = 0, 0, []
    start = time.perf_counter()
    while step < steps:
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            loss = module(batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().item())
            step += 1
            if step == steps:
                break
        epoch += 1
    tail = losses[-50:]
    print(f"finetune_steps={steps} finetune_s={time.perf_counter() - start:.1f}")
    print(f"finetune_loss_last50={sum(tail) / max(1, len(tail)):.3f}")
    return module.model.eval()


def prompt_text(dialogue: Dialogue, template: Template) -> str:
    """The prompt as a user writes it: the template's markers around the raw turn texts."""
    parts = list(template.prefix)
    for n, turn in enumerate(dialogue.turns):
        parts += [template.usr if turn.speaker == "usr" else template.sys, turn.text]
        if n == 0 and dialogue.condition:
            parts += [template.condition, dialogue.condition]
    return "".join([*parts, template.sys])


def new_ids(sequence: Sequence[int], prompt: Sequence[int], pad_id: int) -> list[int]:
    """The generated ids of a pipeline row: `sequence` is the left-padded prompt, then the new tokens."""
    sequence = list(sequence)
    start = next(n for n, i in enumerate(sequence) if i != pad_id)  # a prompt starts with a marker
    if sequence[start : start + len(prompt)] != list(prompt):
        raise RuntimeError("the pipeline's row does not start with the prompt it was given")
    return sequence[start + len(prompt) :]


def alternating_best(sides: dict[str, Callable[[], Any]], rounds: int) -> dict[str, tuple[float, Any]]:
    """Each side's fastest time over `rounds` rounds that run the sides in turn, and its result.

    Every other round runs them in reverse order, so that a change of load slows every side alike.
    """
    best: dict[str, tuple[float, Any]] = {name: (float("inf"), None) for name in sides}
    for n in range(rounds):
        for name, fn in list(sides.items())[:: -1 if n % 2 else 1]:
            start = time.perf_counter()
            result = fn()
            best[name] = (min(time.perf_counter() - start, best[name][0]), result)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=1000, help="prompts to answer")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps before decoding")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-batch-size", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32, help="max_new_tokens on both sides")
    parser.add_argument("--batch-sizes", default="32,64,128,256", help="ReplyGenerator batch sizes")
    parser.add_argument("--pipeline-batch-sizes", default="1,8,32,64,128,256")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decode-layers", type=int, default=None, help="use a fresh GPT-2 this deep")
    parser.add_argument("--decode-width", type=int, default=768)
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="save the fine-tuned model here, or load it if there"
    )
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    wall = time.perf_counter()

    datamodule = DialogueDataModule(
        reader=lambda path: read_chatbotdata(path, condition="id"), path=str(args.data),
        tokenizer="tiny_gpt2", max_length=MAX_LENGTH, batch_size=args.train_batch_size, cache_dir=None,
        shuffle_seed=args.seed,
    )  # fmt: skip
    datamodule.setup("fit")
    print(f"device=cpu torch_threads={torch.get_num_threads()} cpu_count={os.cpu_count()}")
    print(f"torch={torch.__version__} transformers={transformers.__version__}")
    shape = None
    if args.decode_layers:
        width = args.decode_width
        shape = {"n_layer": args.decode_layers, "n_embd": width, "n_head": width // 64}
    if args.model_dir and (args.model_dir / "config.json").is_file():
        model = AutoModelForCausalLM.from_pretrained(args.model_dir).eval()
        print(f"finetuned_model={args.model_dir}")
    else:
        model = finetune(datamodule, args.steps, args.lr, shape)
        if args.model_dir:
            model.save_pretrained(args.model_dir)
    print(f"model_parameters={sum(p.numel() for p in model.parameters())}")
    dialogues = [prompt for prompt, _ in datamodule.sample_prompts(args.n, args.split)]
    identical = compare(args, model, datamodule.tokenizer, datamodule.template, dialogues)
    print(f"wall_s={time.perf_counter() - wall:.0f}")
    if not identical:
        sys.exit(1)


def compare(
    args: argparse.Namespace,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    template: Template,
    dialogues: list[Dialogue],
) -> bool:
    """Times both sides on `dialogues`, prints the figures; whether every reply agreed."""
    settings = {"do_sample": False, "max_new_tokens": args.new_tokens, "min_new_tokens": 0}
    generators = {
        b: ReplyGenerator(model, tokenizer, max_length=MAX_LENGTH, settings=settings, batch_size=b)
        for b in map(int, args.batch_sizes.split(","))
    }
    gen = next(iter(generators.values()))  # its prompt, clean and stop ids do not depend on the batch size
    prompts = [gen.prompt(d) for d in dialogues]
    texts = [prompt_text(d, template) for d in dialogues]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    round_trip = sum(ids == p for ids, p in zip(encoded, prompts, strict=True))
    print(f"prompts={len(dialogues)} split={args.split} prompt_tokens={sum(map(len, prompts))}")
    print(f"pipeline_prompts_round_trip={round_trip}/{len(prompts)}")
    if round_trip < len(prompts):  # the two sides would answer different prompts
        raise SystemExit(f"{len(prompts) - round_trip} prompt texts do not tokenize to maeum's prompt ids")

    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")
    pad_id = tokenizer.pad_token_id
    call = {
        "do_sample": False, "max_new_tokens": args.new_tokens, "min_new_tokens": 0,
        "eos_token_id": gen.stop_ids, "pad_token_id": pad_id, "return_tensors": True,
    }  # fmt: skip
    print(f"pipeline_padding_side={pipe.tokenizer.padding_side} stop_ids={gen.stop_ids} pad_id={pad_id}")

    def pipeline_ids(batch_size: int, rows: slice) -> list[list[int]]:
        out = pipe(texts[rows], batch_size=batch_size, **call)
        return [
            new_ids(o[0]["generated_token_ids"], p, pad_id) for o, p in zip(out, prompts[rows], strict=True)
        ]

    def run_pipeline(batch_size: int, rows: slice = slice(None)) -> list[str]:
        return [gen.clean(ids).text for ids in pipeline_ids(batch_size, rows)]

    def run_maeum(generator: ReplyGenerator, rows: slice = slice(None)) -> list[str]:
        return [r.text for r in generator.generate(dialogues[rows])]

    pipe_sizes = list(map(int, args.pipeline_batch_sizes.split(",")))
    warm = slice(0, 128)
    for generator in generators.values():
        run_maeum(generator, warm)
    for b in pipe_sizes:
        run_pipeline(b, warm)
    gen_sides = [(f"gen_b{b}", partial(run_maeum, g)) for b, g in generators.items()]
    hf_sides = [(f"pipeline_b{b}", partial(run_pipeline, b)) for b in pipe_sizes]
    interleaved = [side for pair in zip_longest(gen_sides, hf_sides) for side in pair if side is not None]
    timed = alternating_best(dict(interleaved), args.repeats)  # maeum, pipeline, maeum, ...

    n = len(dialogues)
    reference = timed[gen_sides[0][0]][1]
    mismatches = {
        name: sum(a != b for a, b in zip(reference, replies, strict=True))
        for name, (_, replies) in timed.items()
    }
    for name, _ in gen_sides + hf_sides:
        print(f"{name}_replies_per_s={n / timed[name][0]:.1f} {name}_mismatches={mismatches[name]}")
    best_gen = min((k for k in timed if k.startswith("gen_")), key=lambda k: timed[k][0])
    best_hf = min((k for k in timed if k.startswith("pipeline_")), key=lambda k: timed[k][0])
    replies = pipeline_ids(int(best_hf.removeprefix("pipeline_b")), slice(None))  # untimed, for the lengths
    stops = [next((i + 1 for i, t in enumerate(ids) if t in gen.stop_ids), None) for ids in replies]
    lengths = [stop or len(ids) for stop, ids in zip(stops, replies, strict=True)]  # stop token included
    gen_rate, hf_rate = n / timed[best_gen][0], n / timed[best_hf][0]
    identical = not any(mismatches.values())
    print(f"reply_tokens_mean={sum(lengths) / n:.1f} reply_tokens_max={max(lengths)}")
    print(f"replies_stopped={sum(s is not None for s in stops)}/{n}")
    print(f"gen_replies_per_s={gen_rate:.1f}")
    print(f"gen_best_batch_size={best_gen.removeprefix('gen_b')}")
    print(f"pipeline_replies_per_s={hf_rate:.1f}")
    print(f"pipeline_best_batch_size={best_hf.removeprefix('pipeline_b')}")
    print(f"gen_vs_pipeline_ratio={gen_rate / hf_rate:.2f}")
    print(f"reply_mismatches={max(mismatches.values())}")
    print(f"replies_identical={identical}")
    return identical


if __name__ == "__main__":
    main()
