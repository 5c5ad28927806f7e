"""`maeum-export ckpt_path=CKPT [output_dir=DIR]`: a chatbot checkpoint as a Hugging Face directory.

The directory holds the fine-tuned causal LM and its tokenizer (`save_pretrained`), so that
`AutoModelForCausalLM.from_pretrained(DIR)` and `maeum.backbones.load_tokenizer(DIR)` load it, plus
`maeum.json` with the dialogue template and `max_length`, so that `maeum-chat ckpt_path=DIR` talks exactly
like the checkpoint. The default `output_dir` is the checkpoint's path without `.ckpt`, plus `-hf`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from maeum.chat import EXPORT_META, export_meta, load_chatbot_checkpoint
from maeum.paths import config_dir
from maeum.runtime import extras, require, task_wrapper

log = logging.getLogger(__name__)


@task_wrapper
def export(cfg: DictConfig) -> Path:
    """Write the directory (see the module docstring); return its path."""
    require(cfg, ["ckpt_path"])
    extras(cfg)
    ckpt = Path(cfg.ckpt_path).expanduser()
    model, tokenizer, template, max_length = load_chatbot_checkpoint(ckpt)
    out = Path(cfg.output_dir).expanduser() if cfg.get("output_dir") else ckpt.with_name(f"{ckpt.stem}-hf")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    meta = export_meta(template, max_length)
    (out / EXPORT_META).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    log.info("Exported %s to %s", ckpt, out)
    print(out, flush=True)
    return out


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="export")
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    main()
