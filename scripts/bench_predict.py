"""Benchmark: `maeum-predict`'s batched path against the KoBERT notebooks and against `transformers.pipeline`.

One process, the same 2,000 ChatbotData questions, CPU, two comparisons:

* `predict_speedup`: one model (an `EmotionClassifier` on `tiny_bert` with ChatbotData's three labels).
  The baseline follows the original notebooks' `predict(sentence)`: a new Dataset and DataLoader for every
  sentence, padding to max_len, an attention mask built by hand from the valid length, and no `no_grad`.
  (The notebooks also start 5 DataLoader workers per sentence; the baseline uses none, which only makes it
  faster.) Baseline time over maeum time, each the fastest of `--repeats` alternating rounds.
* `vs_hf_pipeline_ratio`: a KoBERT-shaped `BertForSequenceClassification` (12 layers x 768, random weights)
  with KoBERT's own tokenizer (`../shared/data/kobert-tokenizer`), through
  `transformers.pipeline("text-classification", batch_size=64)` and through maeum's `Predictor` (one
  batched tokenizer call, length-sorted batches of 64 padded to their own longest row), in fp32 and in
  bf16 autocast (`precision=bf16`). The pipeline's time over maeum's faster one; both are also printed.
  Each is the fastest of `--repeats` - 1 rounds, and the rounds alternate the sides.

    python scripts/bench_predict.py [--data ../shared/data/chatbotdata/ChatbotData.csv] [--n 2000]
    python scripts/bench_predict.py --skip-pipeline   # the notebook comparison only
    python scripts/bench_predict.py --precisions 32   # without bf16 (slow where the CPU has no native bf16)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import BertConfig, BertForSequenceClassification, pipeline

from maeum.backbones import load_tokenizer
from maeum.inference.prediction import Predictor
from maeum.models.classifier import EmotionClassifier

MAX_LEN, BATCH_SIZE = 64, 64
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"
KOBERT_TOKENIZER = SHARED_DATA / "kobert-tokenizer"
LABELS = ["일상다반사", "이별(부정)", "사랑(긍정)"]


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


def alternating_best(sides: dict[str, Callable[[], Any]], rounds: int) -> dict[str, tuple[float, Any]]:
    """Each side's fastest time over `rounds` rounds that run the sides in turn, and its result.

    Alternating, so that a change of load during the run slows every side alike.
    """
    best: dict[str, tuple[float, Any]] = {name: (float("inf"), None) for name in sides}
    for _ in range(rounds):
        for name, fn in sides.items():
            start = time.perf_counter()
            result = fn()
            best[name] = (min(time.perf_counter() - start, best[name][0]), result)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kobert-tokenizer", type=Path, default=KOBERT_TOKENIZER)
    parser.add_argument("--layers", type=int, default=12, help="depth of the KoBERT-shaped model")
    parser.add_argument(
        "--precisions", default="32,bf16", help="maeum precisions against the pipeline, comma-separated"
    )
    parser.add_argument(
        "--skip-pipeline", action="store_true", help="skip the transformers.pipeline comparison"
    )
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"{args.data}: not found; point --data at ChatbotData.csv")

    sentences = pd.read_csv(args.data)["Q"].astype(str).tolist()[: args.n]
    print(f"sentences={len(sentences)}")
    print(f"torch_threads={torch.get_num_threads()}")
    notebook_comparison(sentences, args.repeats)
    if not args.skip_pipeline:
        if not (args.kobert_tokenizer / "spiece.model").is_file():
            raise SystemExit(f"{args.kobert_tokenizer}: no spiece.model; point --kobert-tokenizer at it")
        pipeline_comparison(
            sentences, args.kobert_tokenizer, args.layers, args.repeats, args.precisions.split(",")
        )


def notebook_comparison(sentences: list[str], repeats: int) -> None:
    torch.manual_seed(0)
    labels = LABELS
    model = EmotionClassifier(
        backbone="tiny_bert", labels=labels, optimizer={"_target_": "torch.optim.AdamW"}
    )
    tokenizer = load_tokenizer("tiny_bert")
    predictor = Predictor(model.net, tokenizer, labels, max_length=MAX_LEN, batch_size=BATCH_SIZE)

    predictor.predict(sentences[:BATCH_SIZE])  # warm-up, both paths
    notebook_predict(model, tokenizer, sentences[0])

    timed = alternating_best(
        {
            "maeum": lambda: predictor.predict(sentences),
            "baseline": lambda: [notebook_predict(model, tokenizer, s) for s in sentences],
        },
        repeats,
    )
    (maeum_s, ours), (baseline_s, theirs) = timed["maeum"], timed["baseline"]

    agreement = sum(labels.index(r["label"]) == t for r, t in zip(ours, theirs, strict=True)) / len(sentences)
    print(f"maeum_s={maeum_s:.3f}")
    print(f"baseline_s={baseline_s:.3f}")
    print(f"maeum_sentences_per_s={len(sentences) / maeum_s:.0f}")
    print(f"baseline_sentences_per_s={len(sentences) / baseline_s:.0f}")
    print(f"label_agreement={agreement:.4f}")
    print(f"predict_speedup={baseline_s / maeum_s:.1f}")


def pipeline_comparison(
    sentences: list[str], tokenizer_dir: Path, layers: int, repeats: int, precisions: list[str]
) -> None:
    """maeum's `Predictor` against `transformers.pipeline` on one KoBERT-shaped model."""
    tokenizer = load_tokenizer(str(tokenizer_dir))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=layers, num_attention_heads=12,
        intermediate_size=3072, num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )  # fmt: skip
    model = BertForSequenceClassification(config).eval()
    hf = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu", top_k=None)
    run_hf = lambda: hf(sentences, batch_size=BATCH_SIZE, truncation=True, max_length=MAX_LEN)  # noqa: E731
    predictors = {
        p: Predictor(model, tokenizer, LABELS, max_length=MAX_LEN, batch_size=BATCH_SIZE, precision=p)
        for p in precisions
    }
    for predictor in predictors.values():
        predictor.predict(sentences[:BATCH_SIZE])  # warm-up
    hf(sentences[:BATCH_SIZE], batch_size=BATCH_SIZE)
    sides = {
        p: (lambda predictor=predictor: predictor.predict(sentences)) for p, predictor in predictors.items()
    }
    timed = alternating_best({"hf": run_hf, **sides}, max(1, repeats - 1))
    hf_s, theirs = timed.pop("hf")
    print(
        f"pipeline_model=bert layers={layers} width=768 vocab={len(tokenizer)} tokenizer={tokenizer_dir.name}"
    )
    print(f"hf_pipeline_s={hf_s:.3f}")
    hf_labels = [max(scores, key=lambda s: s["score"])["label"] for scores in theirs]
    for precision, (seconds, ours) in timed.items():
        agreement = sum(r["label"] == t for r, t in zip(ours, hf_labels, strict=True)) / len(sentences)
        print(f"maeum_{precision}_s={seconds:.3f}")
        print(f"maeum_{precision}_label_agreement_with_pipeline={agreement:.4f}")
        print(f"vs_hf_pipeline_ratio_{precision}={hf_s / seconds:.2f}")
    best = min(timed, key=lambda p: timed[p][0])
    print(f"vs_hf_pipeline_best_precision={best}")
    print(f"vs_hf_pipeline_ratio={hf_s / timed[best][0]:.2f}")


if __name__ == "__main__":
    main()
