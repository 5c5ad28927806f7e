"""Tiny twins of today's instruction models: a tiny random model of the family's architecture with a
tokenizer that carries the family's chat template and special tokens (`tiny_qwen3`, `tiny_qwen2_5`,
`tiny_llama3`), built by `maeum.backbones.tiny.build_tiny` like `tiny_gpt2`.

* `tiny_qwen3` and `tiny_qwen2_5` take the **real** tokenizer of Qwen3-0.6B and Qwen2.5-0.5B-Instruct
  (vocabulary, special tokens at their ids, chat template) from a local folder: `$MAEUM_CHAT_TOKENIZERS`,
  which holds `qwen3-0.6b/` and `qwen2.5-0.5b-instruct/` (`hf download Qwen/Qwen3-0.6B --include
  "*token*" "*.jinja" vocab.json merges.txt --local-dir $MAEUM_CHAT_TOKENIZERS/qwen3-0.6b`, ...). No
  weights are read; the model is the family's architecture at tiny size, randomly initialised.
* `tiny_llama3` needs nothing: a byte-level BPE trained on maeum's Korean sample, with Llama 3's special
  tokens (`<|begin_of_text|>`, `<|start_header_id|>`, `<|end_header_id|>`, `<|eot_id|>`, ...) and Llama 3's
  chat layout. It stands in for the Llama-architecture Korean models (HyperCLOVA X SEED's and Kanana's
  configs are Llama's; the Korean Llama-3 fine-tunes).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from maeum.errors import BackboneError

CHAT_TOKENIZERS_ENV = "MAEUM_CHAT_TOKENIZERS"

LLAMA3_SPECIAL_TOKENS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
)
LLAMA3_ROLES = {
    "bos_token": "<|begin_of_text|>",
    "eos_token": "<|eot_id|>",  # the end of an assistant turn, as in the instruct models' configs
    "pad_token": "<|finetune_right_pad_id|>",
}
# Llama 3's chat layout (the format of the instruct models' template, without tools or dates)
LLAMA3_CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
TINY_CAUSAL = {  # the shared tiny shape: tiny_gpt2's width and depth
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,  # grouped-query attention, as in the real models
    "head_dim": 32,
    "intermediate_size": 256,
    "max_position_embeddings": 1024,
}


def chat_tokenizers_dir() -> Path | None:
    value = os.environ.get(CHAT_TOKENIZERS_ENV)
    return Path(value).expanduser() if value else None


def real_tokenizer_dir(folder: str, twin: str, mimics: str) -> Path:
    """The local folder of a real chat tokenizer, or one error that says how to get one."""
    root = chat_tokenizers_dir()
    if root is None or not (root / folder).is_dir():
        where = f"{root / folder} does not exist" if root else f"${CHAT_TOKENIZERS_ENV} is not set"
        raise BackboneError(
            f"{twin} is built around the real tokenizer of {mimics}, and {where}: set {CHAT_TOKENIZERS_ENV}"
            f" to a folder that holds {folder}/ (its tokenizer files, no weights; e.g. `hf download {mimics}"
            f' --include "*token*" "*.jinja" vocab.json merges.txt --local-dir DIR/{folder}`), or use'
            " backbone=tiny_llama3, which needs nothing."
        )
    return root / folder


def source_digest(folder: Path) -> str:
    """Hash of a tokenizer folder's files (part of a twin's cache key)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def save_real_tokenizer(folder: Path, out: Path, model_max_length: int) -> None:
    """The real tokenizer, saved as it loads (its `tokenizer.json`, config and chat template)."""
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    tokenizer.model_max_length = model_max_length
    tokenizer.save_pretrained(out)


def save_byte_level_tokenizer(
    texts: list[str],
    out: Path,
    *,
    vocab_size: int,
    special_tokens: tuple[str, ...],
    roles: dict[str, str],
    chat_template: str,
    model_max_length: int,
) -> None:
    """A byte-level BPE (the Llama 3 / Qwen kind) trained on `texts`, its special tokens after the
    vocabulary as in the real models, and the family's chat template."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer, length=len(texts))
    tok.add_special_tokens(list(special_tokens))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model_max_length, chat_template=chat_template, **roles
    )
    tokenizer.save_pretrained(out)
