"""Benchmark: `maeum-predict`'s batched path against per-sentence prediction as the KoBERT notebooks do it.

One process, one model (an `EmotionClassifier` on `tiny_bert` with ChatbotData's three labels), the same
2,000 ChatbotData questions, CPU. The baseline follows the original notebooks' `predict(sentence)`: a new
Dataset and DataLoader for every sentence, padding to max_len, an attention mask built by hand from the
valid length, and no `no_grad`. (The notebooks also start 5 DataLoader workers per sentence; the baseline
uses none, which only makes it faster.) Prints `name=value` lines; `predict_speedup` is baseline time
over maeum time.

    python scripts/bench_predict.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--n 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from maeum.backbones import load_tokenizer
from maeum.models.classifier import EmotionClassifier
from maeum.prediction import Predictor

MAX_LEN, BATCH_SIZE = 64, 64
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chatbotdata" / "ChatbotData.csv"


class NotebookDataset(Dataset):
    """The notebooks' BERTDataset: every sentence tokenized and padded to max_len, with its valid length."""

    def __init__(self, sentences: list[str], tokenizer, max_len: int) -> None:
        self.items = []
        for sentence in sentences:
            ids = tokenizer(sentence, truncation=True, max_length=max_len)["input_ids"]
            valid = len(ids)
            ids = ids + [tokenizer.pad_token_id] * (max_len - valid)
            self.items.append(
                (torch.tensor(ids), torch.tensor(valid), torch.zeros(max_len, dtype=torch.long))
            )

    def __getitem__(self, i: int):
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)


def gen_attention_mask(token_ids: torch.Tensor, valid_length: torch.Tensor) -> torch.Tensor:
    """The notebooks' hand-made attention mask."""
    mask = torch.zeros_like(token_ids)
    for i, v in enumerate(valid_length):
        mask[i][:v] = 1
    return mask.float()


def notebook_predict(model: EmotionClassifier, tokenizer, sentence: str) -> int:
    loader = DataLoader(NotebookDataset([sentence], tokenizer, MAX_LEN), batch_size=BATCH_SIZE, num_workers=0)
    model.eval()
    for token_ids, valid_length, segment_ids in loader:
        mask = gen_attention_mask(token_ids, valid_length)
        out = model(input_ids=token_ids, attention_mask=mask, token_type_ids=segment_ids)
        return int(out.argmax(dim=-1)[0])
    raise RuntimeError("empty loader")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")

    sentences = pd.read_csv(args.data)["Q"].astype(str).tolist()[: args.n]
    torch.manual_seed(0)
    labels = ["일상다반사", "이별(부정)", "사랑(긍정)"]
    model = EmotionClassifier(
        backbone="tiny_bert", labels=labels, optimizer={"_target_": "torch.optim.AdamW"}
    )
    tokenizer = load_tokenizer("tiny_bert")
    predictor = Predictor(model.net, tokenizer, labels, max_length=MAX_LEN, batch_size=BATCH_SIZE)

    predictor.predict(sentences[:BATCH_SIZE])  # warm-up, both paths
    notebook_predict(model, tokenizer, sentences[0])

    maeum_s = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = predictor.predict(sentences)
        maeum_s = min(maeum_s, time.perf_counter() - start)
    start = time.perf_counter()
    theirs = [notebook_predict(model, tokenizer, s) for s in sentences]
    baseline_s = time.perf_counter() - start

    agreement = sum(labels.index(r["label"]) == t for r, t in zip(ours, theirs, strict=True)) / len(sentences)
    print(f"sentences={len(sentences)}")
    print(f"torch_threads={torch.get_num_threads()}")
    print(f"maeum_s={maeum_s:.3f}")
    print(f"baseline_s={baseline_s:.3f}")
    print(f"maeum_sentences_per_s={len(sentences) / maeum_s:.0f}")
    print(f"baseline_sentences_per_s={len(sentences) / baseline_s:.0f}")
    print(f"label_agreement={agreement:.4f}")
    print(f"predict_speedup={baseline_s / maeum_s:.1f}")


if __name__ == "__main__":
    main()
