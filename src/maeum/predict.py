"""`maeum-predict`: classify text with a checkpoint written by `maeum-train`.

    maeum-predict ckpt_path=CKPT text="오늘 너무 기뻐요"          # one text: its label and probabilities
    maeum-predict ckpt_path=CKPT input=texts.txt output=out.jsonl  # one text per line, batched
    maeum-predict ckpt_path=CKPT                                   # interactive; an empty line or EOF ends

Every text is tokenized once in one batched call; batches are then formed from texts of similar length
(sorted by token count) and padded only to their own longest row. Results keep the input order.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
import torch
from hydra.utils import get_class
from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from maeum.backbones import load_tokenizer
from maeum.callbacks import load_run_config
from maeum.models.classifier import EmotionClassifier
from maeum.paths import config_dir
from maeum.runtime import extras, quote_free_text, read_lines, task_wrapper

log = logging.getLogger(__name__)


class Predictor:
    """A classifier and its tokenizer, ready for batched inference."""

    def __init__(
        self,
        model: EmotionClassifier,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        batch_size: int = 64,
    ) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.labels = list(model.labels)

    @classmethod
    def from_checkpoint(cls, ckpt_path: str | Path, device: str = "cpu", batch_size: int = 64) -> Predictor:
        run_cfg = load_run_config(ckpt_path)
        model_class = get_class(run_cfg.model._target_)
        model = model_class.load_from_checkpoint(ckpt_path, map_location=device, pretrained=False)
        tokenizer = load_tokenizer(run_cfg.data.tokenizer)
        return cls(model, tokenizer, max_length=run_cfg.data.max_length, batch_size=batch_size)

    @torch.inference_mode()
    def predict(self, texts: Sequence[str]) -> list[dict[str, object]]:
        """`{"text", "label", "probs": {label: p}}` for every text, in input order."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        results: list[dict[str, object]] = [{} for _ in texts]
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
            probs = torch.softmax(self.model(**batch.to(self.model.device)), dim=-1).tolist()
            for i, p in zip(rows, probs, strict=True):
                best = max(range(len(p)), key=p.__getitem__)
                results[i] = {
                    "text": texts[i],
                    "label": self.labels[best],
                    "probs": {name: round(q, 6) for name, q in zip(self.labels, p, strict=True)},
                }
        return results


@task_wrapper
def predict(cfg: DictConfig) -> list[dict[str, object]]:
    """Run one of the three modes of `maeum-predict` (see the module docstring)."""
    extras(cfg)
    predictor = Predictor.from_checkpoint(cfg.ckpt_path, device=cfg.device, batch_size=cfg.batch_size)
    if cfg.get("text"):
        (result,) = predictor.predict([str(cfg.text)])
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return [result]
    if cfg.get("input"):
        return _predict_file(predictor, Path(cfg.input), cfg.get("output"))
    return _interactive(predictor)


def _predict_file(predictor: Predictor, path: Path, output: str | None) -> list[dict[str, object]]:
    lines = read_lines(path, "one text")
    texts = [line.strip() for line in lines if line.strip()]
    if skipped := len(lines) - len(texts):
        log.info("%s: skipped %d empty lines", path, skipped)
    results = predictor.predict(texts)
    out = Path(output) if output else path.with_suffix(".predictions.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    log.info("Classified %d texts from %s into %s", len(results), path, out)
    return results


def _interactive(predictor: Predictor) -> list[dict[str, object]]:
    results = []
    print(
        f"labels: {', '.join(predictor.labels)}. Type a sentence; an empty line or Ctrl-D ends.", flush=True
    )
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            break
        if not text:
            break
        (result,) = predictor.predict([text])
        ranked = sorted(result["probs"].items(), key=lambda kv: -kv[1])
        print(f"{result['label']}  " + "  ".join(f"{name} {p:.3f}" for name, p in ranked), flush=True)
        results.append(result)
    return results


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="predict")
def _hydra_main(cfg: DictConfig) -> None:
    predict(cfg)


def main() -> None:
    sys.argv = [sys.argv[0], *(quote_free_text(arg, keys=("text",)) for arg in sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
