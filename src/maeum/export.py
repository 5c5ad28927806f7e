"""`maeum-export ckpt_path=CKPT [output_dir=DIR]`: a checkpoint as a directory that `transformers` loads.

A classifier becomes a `*ForSequenceClassification` directory (`AutoModelForSequenceClassification` and
`AutoTokenizer`, or `pipeline("text-classification", model=DIR)`, load it with no maeum code); a chatbot
becomes its causal LM and tokenizer. `maeum.json` beside them holds what maeum needs on top, so that
`maeum-predict`, `maeum-chat` and `maeum-demo` answer from the directory exactly as from the checkpoint
(see `maeum.inference.hf_export`). A LoRA run is exported merged (`merge_and_unload`); with `merge=false`
a chatbot's export is the adapter alone, which `PeftModel.from_pretrained` loads on its base.
The default `output_dir` is the checkpoint's path without `.ckpt`, plus `-hf`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from maeum.cli import hydra_main
from maeum.inference.hf_export import write_export
from maeum.runtime import extras, require, task_wrapper

log = logging.getLogger(__name__)


@task_wrapper
def export(cfg: DictConfig) -> Path:
    """Write the directory (see the module docstring); return its path."""
    require(cfg, ["ckpt_path"])
    extras(cfg)
    ckpt = Path(cfg.ckpt_path).expanduser()
    out = Path(cfg.output_dir).expanduser() if cfg.get("output_dir") else ckpt.with_name(f"{ckpt.stem}-hf")
    write_export(ckpt, out, merge=cfg.get("merge", True))
    log.info("Exported %s to %s", ckpt, out)
    print(out, flush=True)
    return out


@hydra_main("export")
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    main()
