"""Benchmark: maeum's chatbot training step and decoding against the original KoGPT2 notebooks' ones.

One process, `tiny_gpt2` (each side starts from the same weights), the real ChatbotData (Q → A with the
sentiment id as condition, as in KoGPT2-chatbot), the first `--n` training dialogues of maeum's split.

* Training. maeum: `DialogueDataModule`'s cached encodings, batches padded to their longest row,
  labels of -100 outside the answer, and `ChatLM`'s forward (the model's own loss). Baseline, as the
  notebooks train: a Dataset that tokenizes on every `__getitem__` and pads to `max_len`, no attention
  mask, then logits masked to -1e18 through a 3-D `repeat_interleave` mask and cross-entropy over the full
  vocabulary at every position. Both run AdamW on the same batches in the same order.
  `train_tokens_per_s_ratio` is maeum's non-pad tokens per second over the baseline's;
  `train_peak_mem_ratio` is maeum's peak tensor memory during training steps over the baseline's (CPU: the
  profiler's allocator totals; CUDA: `max_memory_allocated`).
* Decoding, 32 new tokens, greedy (min_new_tokens keeps every reply at 32). Baseline, the notebooks'
  loop: re-encode the whole string and run the full model for every token. maeum: `ReplyGenerator`
  (`model.generate` with the KV cache), batched (`reply_latency_ratio`) and one reply at a time
  (`reply_latency_ratio_unbatched`). Ratios are baseline time over maeum time per reply.

    python scripts/bench_chat.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--n 2048]
    python scripts/bench_chat.py --decode-layers 12 --decode-width 768   # decode with a KoGPT2-sized model

`--decode-layers/--decode-width` decode with a randomly initialised GPT-2 of that shape (KoGPT2 is 12 x 768)
over `tiny_gpt2`'s vocabulary instead of `tiny_gpt2` itself, to see how the KV cache scales.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from bench_common import DEFAULT_DATA, memory_events
from torch.utils.data import DataLoader, Dataset
from transformers import GPT2Config, GPT2LMHeadModel

from maeum.backbones import load_model
from maeum.data.dialogue.datamodule import DialogueDataModule
from maeum.data.dialogue.readers import read_chatbotdata
from maeum.data.dialogue.records import Dialogue, Turn
from maeum.inference.generation import ReplyGenerator
from maeum.models.chat_lm import ChatLM

U_TKN, S_TKN, SENT, EOS, MASK = "<usr>", "<sys>", "<unused1>", "</s>", "<unused0>"
NEG = -1e18  # the notebooks' Sneg


class NotebookChatbotDataset(Dataset):
    """KoGPT2-chatbot's `ChatbotDataset`: tokenizes on every access and pads to `max_len`."""

    def __init__(self, dialogues: list[Dialogue], tokenizer, max_len: int) -> None:
        self.dialogues, self.tokenizer, self.max_len = dialogues, tokenizer, max_len

    def __len__(self) -> int:
        return len(self.dialogues)

    def __getitem__(self, idx: int):
        d = self.dialogues[idx]
        q, a = d.turns[0].text, d.turns[1].text
        q_toked = self.tokenizer.tokenize(U_TKN + q + SENT + (d.condition or ""))
        a_toked = self.tokenizer.tokenize(S_TKN + a + EOS)
        q_len, a_len = len(q_toked), len(a_toked)
        if q_len + a_len > self.max_len:  # the notebook's truncation
            a_len = self.max_len - q_len
            if a_len <= 0:
                q_toked = q_toked[-(int(self.max_len / 2)) :]
                q_len = len(q_toked)
                a_len = self.max_len - q_len
            a_toked = a_toked[:a_len]
        labels = [MASK] * q_len + a_toked[1:]
        mask = [0] * q_len + [1] * a_len + [0] * (self.max_len - q_len - a_len)
        label_ids = self.tokenizer.convert_tokens_to_ids(labels)
        label_ids += [self.tokenizer.pad_token_id] * (self.max_len - len(label_ids))
        token_ids = self.tokenizer.convert_tokens_to_ids(q_toked + a_toked)
        token_ids += [self.tokenizer.pad_token_id] * (self.max_len - len(token_ids))
        return token_ids, mask, label_ids, q_len + a_len


def notebook_collate(batch):
    return tuple(torch.LongTensor([item[k] for item in batch]) for k in range(4))


def notebook_step(model, optimizer, batch) -> int:
    token_ids, mask, label, valid = batch
    out = model(token_ids).logits
    mask_3d = mask.unsqueeze(dim=2).repeat_interleave(repeats=out.shape[2], dim=2)
    mask_out = torch.where(mask_3d == 1, out, NEG * torch.ones_like(out))
    loss = torch.nn.CrossEntropyLoss(reduction="none")(mask_out.transpose(2, 1), label)
    avg_loss = loss.sum() / mask.sum()
    optimizer.zero_grad()
    avg_loss.backward()
    optimizer.step()
    return int(valid.sum())


def maeum_step(module: ChatLM, optimizer, batch) -> int:
    loss = module(batch["input_ids"], batch["attention_mask"], batch["labels"]).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return int(batch["attention_mask"].sum())


def to_device(batch, device: str):
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return tuple(t.to(device) for t in batch)


def run_steps(step: Callable, model, optimizer, loader: Iterable, device: str) -> tuple[int, float]:
    """Tokens trained and seconds taken over every batch of `loader` (loading included)."""
    tokens = 0
    start = time.perf_counter()
    for batch in loader:
        tokens += step(model, optimizer, to_device(batch, device))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return tokens, time.perf_counter() - start


def peak_memory(fn: Callable[[], object], device: str) -> int:
    """Peak bytes of tensors allocated while `fn` runs, above what existed before."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    totals = [e["args"]["Total Allocated"] for e in memory_events(fn)]
    return max(totals, default=0)


def notebook_reply(model, tokenizer, question: str, condition: str, new_tokens: int) -> str:
    """KoGPT2-chatbot's chat loop: re-encode the whole string and run the full model for every token."""
    answer = ""
    for _ in range(new_tokens):  # the notebook stops at </s>; here every reply gets `new_tokens` tokens
        input_ids = torch.LongTensor(tokenizer.encode(U_TKN + question + SENT + condition + S_TKN + answer))
        pred = model(input_ids.unsqueeze(dim=0).to(model.device))
        gen = tokenizer.convert_ids_to_tokens(torch.argmax(pred.logits, dim=-1).squeeze().tolist())[-1]
        answer += gen.replace("▁", " ")
    return answer.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=2048, help="training dialogues per timed pass")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--replies", type=int, default=64, help="questions to answer")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decode-layers", type=int, default=None, help="decode with a GPT-2 this deep")
    parser.add_argument("--decode-width", type=int, default=768)
    parser.add_argument("--skip-train", action="store_true", help="the decoding half only")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = args.device

    datamodule = DialogueDataModule(
        reader=lambda path: read_chatbotdata(path, condition="id"), path=str(args.data),
        tokenizer="tiny_gpt2", max_length=args.max_len, batch_size=args.batch_size, cache_dir=None,
    )  # fmt: skip
    datamodule.setup("fit")
    tokenizer = datamodule.tokenizer
    train_rows = datamodule.corpus.indices["train"][: args.n]
    dialogues = [datamodule.corpus.dialogues[i] for i in train_rows]
    print(f"device={device}")
    if not args.skip_train:
        train_benchmark(args, datamodule, dialogues)
    decode_benchmark(args, tokenizer, dialogues)


def train_benchmark(
    args: argparse.Namespace, datamodule: DialogueDataModule, dialogues: list[Dialogue]
) -> None:
    device = args.device
    maeum_data = torch.utils.data.Subset(datamodule.datasets["train"], range(len(dialogues)))
    maeum_loader = DataLoader(maeum_data, batch_size=args.batch_size, collate_fn=datamodule.collator())
    notebook_loader = DataLoader(
        NotebookChatbotDataset(dialogues, datamodule.tokenizer, args.max_len), batch_size=args.batch_size,
        collate_fn=notebook_collate,
    )  # fmt: skip
    module = ChatLM(backbone="tiny_gpt2", optimizer={}).to(device)
    baseline = load_model("tiny_gpt2", causal_lm=True).to(device).train()
    opt_m = torch.optim.AdamW(module.parameters(), lr=5e-5)
    opt_b = torch.optim.AdamW(baseline.parameters(), lr=5e-5)
    warm = [next(iter(maeum_loader))], [next(iter(notebook_loader))]
    run_steps(maeum_step, module, opt_m, warm[0], device)
    run_steps(notebook_step, baseline, opt_b, warm[1], device)
    rates_m, rates_b = [], []
    for _ in range(args.repeats):  # interleaved, so that machine noise hits both sides alike
        tokens, seconds = run_steps(maeum_step, module, opt_m, maeum_loader, device)
        rates_m.append(tokens / seconds)
        tokens, seconds = run_steps(notebook_step, baseline, opt_b, notebook_loader, device)
        rates_b.append(tokens / seconds)
    few_m = [b for _, b in zip(range(4), maeum_loader, strict=False)]
    few_b = [b for _, b in zip(range(4), notebook_loader, strict=False)]
    mem_m = peak_memory(lambda: run_steps(maeum_step, module, opt_m, few_m, device), device)
    mem_b = peak_memory(lambda: run_steps(notebook_step, baseline, opt_b, few_b, device), device)
    print(f"train_dialogues={len(dialogues)}")
    print(f"train_tokens_per_s_maeum={statistics.median(rates_m):.0f}")
    print(f"train_tokens_per_s_baseline={statistics.median(rates_b):.0f}")
    print(f"train_tokens_per_s_ratio={statistics.median(rates_m) / statistics.median(rates_b):.2f}")
    print(f"train_peak_mem_mb_maeum={mem_m / 2**20:.1f}")
    print(f"train_peak_mem_mb_baseline={mem_b / 2**20:.1f}")
    print(f"train_peak_mem_ratio={mem_m / mem_b:.3f}")


def decode_benchmark(args: argparse.Namespace, tokenizer, dialogues: list[Dialogue]) -> None:
    device = args.device
    if args.decode_layers:
        config = GPT2Config(
            vocab_size=len(tokenizer), n_layer=args.decode_layers, n_embd=args.decode_width,
            n_head=args.decode_width // 64, bos_token_id=0, eos_token_id=1, pad_token_id=3,
        )  # fmt: skip
        model = GPT2LMHeadModel(config).to(device).eval()
    else:
        model = load_model("tiny_gpt2", causal_lm=True).to(device).eval()
    print(f"decode_model_parameters={sum(p.numel() for p in model.parameters())}")
    questions = [Dialogue([Turn("usr", d.turns[0].text)], d.condition) for d in dialogues[: args.replies]]
    settings = {"do_sample": False, "max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
    batched = ReplyGenerator(model, tokenizer, max_length=args.max_len, settings=settings)
    single = ReplyGenerator(model, tokenizer, max_length=args.max_len, settings=settings, batch_size=1)
    times: dict[str, list[float]] = {"batched": [], "single": [], "baseline": []}
    with torch.inference_mode():
        for _ in range(args.repeats):
            for name, run in (
                ("batched", lambda: batched.generate(questions)),
                ("single", lambda: single.generate(questions)),
                (
                    "baseline",
                    lambda: [
                        notebook_reply(model, tokenizer, q.turns[0].text, q.condition or "", args.new_tokens)
                        for q in questions
                    ],
                ),
            ):
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) / len(questions))
    per_reply = {name: statistics.median(t) for name, t in times.items()}
    agree = [a.text for a in batched.generate(questions)] == [a.text for a in single.generate(questions)]
    print(f"replies={len(questions)} new_tokens={args.new_tokens}")
    for name, seconds in per_reply.items():
        print(f"reply_ms_{name}={seconds * 1000:.2f}")
    print(f"reply_latency_ratio={per_reply['baseline'] / per_reply['batched']:.2f}")
    print(f"reply_latency_ratio_unbatched={per_reply['baseline'] / per_reply['single']:.2f}")
    print(f"batched_equals_unbatched={agree}")


if __name__ == "__main__":
    main()
