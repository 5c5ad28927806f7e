"""`maeum-predict`: classify text with a `maeum-train` checkpoint or a `maeum-export` directory.

    maeum-predict ckpt_path=CKPT text="오늘 너무 기뻐요"          # one text: its label and probabilities
    maeum-predict ckpt_path=CKPT input=texts.txt output=out.jsonl  # one text per line, batched
    maeum-predict ckpt_path=CKPT                                   # interactive; an empty line or EOF ends

Inference is batched and length-sorted (`maeum.inference.prediction.Predictor`); results keep the input order.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from maeum.cli import hydra_main
from maeum.errors import DataError
from maeum.inference.prediction import Predictor
from maeum.runtime import extras, read_lines, task_wrapper

log = logging.getLogger(__name__)
WHAT = "one text"  # per line of input=


@task_wrapper
def predict(cfg: DictConfig) -> list[dict[str, object]]:
    """Run one of the three modes of `maeum-predict` (see the module docstring)."""
    extras(cfg)
    predictor = Predictor.from_path(
        cfg.ckpt_path, device=cfg.device, batch_size=cfg.batch_size, precision=cfg.precision
    )
    if cfg.get("text") is not None:
        text = str(cfg.text).strip()
        if not text:
            raise DataError(f"text={cfg.text!r} has nothing to classify (it is empty or only spaces).")
        (result,) = predictor.predict([text])
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return [result]
    if cfg.get("input"):
        return _predict_file(predictor, Path(cfg.input), cfg.get("output"))
    return _interactive(predictor)


def _predict_file(predictor: Predictor, path: Path, output: str | None) -> list[dict[str, object]]:
    lines = read_lines(path, WHAT)
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise DataError(
            f"{path}: the file has no texts ({len(lines)} lines, all blank). Put {WHAT} per line."
        )
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


@hydra_main("predict", free_text=("text",))
def main(cfg: DictConfig) -> None:
    predict(cfg)


if __name__ == "__main__":
    main()
