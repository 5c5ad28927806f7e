"""A backbone's tokenizer with new tokens: `maeum-tokenizer extend`.

The tokens are added with `add_tokens`; those the vocabulary already holds (and repeats) are counted, not
added twice. The tokenizer is saved as a fast tokenizer (`tokenizer.json`), the format `load_tokenizer`
reads back: a KoBERT `spiece.model` cannot hold added tokens, so a KoBERT-style source is saved as the
repaired fast tokenizer (BERT template `[CLS] .. [SEP]`, `token_type_ids`, right padding) that
`maeum.backbones.tokenizer_repairs.kobert_tokenizer` builds from it. When the source has a model, its files
(config, weights) are copied beside, so that `backbone.name_or_path=DIR` trains it: `ChatLM` and
`EmotionClassifier` then grow its embeddings to the tokenizer (`maeum.backbones.embeddings`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoConfig

from maeum.backbones.loading import load_tokenizer, resolve
from maeum.backbones.tiny import TINY_SPECS
from maeum.errors import BackboneError

REPORT = "maeum_tokenizer.json"  # what `maeum-tokenizer` did, in the directory it wrote
TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "spiece.model",
        "sentencepiece.bpe.model",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "chat_template.jinja",
        "chat_template.json",
        REPORT,
    }
)


def require_empty(out: Path) -> None:
    """Refuse to write into a directory that already holds files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackboneError(f"{out} already exists and is not empty: choose a new output directory")


def extend_tokenizer(
    source: str, tokens: Sequence[str], out: Path, *, special: bool = False
) -> dict[str, Any]:
    """Write `source`'s tokenizer with `tokens` added (as special tokens with `special`) to `out`, and the
    model's files when `source` has a model. Returns the report also written to `out/maeum_tokenizer.json`."""
    if source not in TINY_SPECS and not Path(source).expanduser().is_dir():
        raise BackboneError(
            f"{source}: not a tiny backbone name nor a local directory. Extend a local copy: `hf download"
            f" {source} --local-dir DIR`, then `maeum-tokenizer extend DIR ...`."
        )
    wanted = [t for t in (token.strip() for token in tokens) if t]
    if not wanted:
        raise BackboneError("no tokens to add: give --tokens TOKEN ... or --tokens-file FILE")
    require_empty(out)
    directory = Path(resolve(source)[0])
    tokenizer = load_tokenizer(str(directory))
    base_size = len(tokenizer)
    vocab = tokenizer.get_vocab()
    unique = list(dict.fromkeys(wanted))
    present = [t for t in unique if t in vocab]
    new = [t for t in unique if t not in vocab]
    if tokenizer.add_tokens(new, special_tokens=special) != len(new):
        raise BackboneError(f"{source}: the tokenizer did not add all of {new}")
    model_files = _model_files(directory)
    out.mkdir(parents=True, exist_ok=True)
    for path in model_files:
        shutil.copy2(path, out / path.name)
    tokenizer.save_pretrained(out)
    report = {
        "command": "extend",
        "source": source,
        "base_vocab_size": base_size,
        "base_embeddings": _embedding_rows(directory) if model_files else None,
        "vocab_size": len(tokenizer),
        "special": special,
        "requested": len(wanted),
        "added": new,
        "already_present": present,
        "repeated": len(wanted) - len(unique),
        "model_files": sorted(p.name for p in model_files),
    }
    (out / REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    loaded = load_tokenizer(str(out))  # read back as training will read it
    if len(loaded) != len(tokenizer) or loaded.unk_token_id != tokenizer.unk_token_id:
        raise BackboneError(f"{out}: the saved tokenizer does not read back as written")
    return report


def _model_files(directory: Path) -> list[Path]:
    """The files of the model in `directory` (config, weights, generation config), if it has one."""
    if not (directory / "config.json").is_file():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name not in TOKENIZER_FILES)


def _embedding_rows(directory: Path) -> int | None:
    """The token embeddings of the model in `directory`, from its config."""
    config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
    config = getattr(config, "text_config", None) or config
    return getattr(config, "vocab_size", None)
