"""Backbones: hub ids, local directories and the tiny offline stand-ins, all behind `from_pretrained`.

`load_tokenizer(name_or_path)` and `load_model(name_or_path, ...)` accept

* `tiny_bert` / `tiny_gpt2`: tiny, randomly initialised stand-ins for `skt/kobert-base-v1` and
  `skt/kogpt2-base-v2`, built once into the cache (`maeum.backbones.tiny`);
* a local directory written by `save_pretrained` (or downloaded with `hf download ... --local-dir`);
* a Hugging Face Hub id, probed once so that an unreachable hub fails in seconds (`maeum.backbones.hub`).

KoBERT's sentencepiece tokenizer and KoGPT2's Metaspace `tokenizer.json` are repaired on the way in
(`maeum.backbones.tokenizer_repairs`). `block_classes` reads a backbone's transformer block class for FSDP.
"""

from maeum.backbones.hub import HUB_TIMEOUT_S
from maeum.backbones.loading import architecture, block_classes, load_model, load_tokenizer, resolve
from maeum.backbones.tiny import BUILD_VERSION, SAMPLE_FILES, TINY_SPECS, TinySpec, build_tiny
from maeum.backbones.tokenizer_repairs import (
    HANGUL,
    HANGUL_PROBE,
    KOBERT_ROLES,
    KOBERT_SPECIAL_TOKENS,
    KOGPT2_EMOTICONS,
    KOGPT2_ROLES,
    KOGPT2_SPECIAL_TOKENS,
    Piece,
    kobert_tokenizer,
    load_local_tokenizer,
    metaspace_tokenizer,
    tokenizer_from,
)
from maeum.backbones.tokenizer_training import (
    KOREAN_ALPHABET,
    STYLES,
    SentencepieceSampling,
    common_korean_alphabet,
    minimum_vocab_size,
    train_tokenizer,
)

__all__ = [
    "BUILD_VERSION",
    "HANGUL",
    "HANGUL_PROBE",
    "HUB_TIMEOUT_S",
    "KOBERT_ROLES",
    "KOBERT_SPECIAL_TOKENS",
    "KOGPT2_EMOTICONS",
    "KOGPT2_ROLES",
    "KOGPT2_SPECIAL_TOKENS",
    "KOREAN_ALPHABET",
    "SAMPLE_FILES",
    "STYLES",
    "TINY_SPECS",
    "Piece",
    "SentencepieceSampling",
    "TinySpec",
    "architecture",
    "block_classes",
    "build_tiny",
    "common_korean_alphabet",
    "kobert_tokenizer",
    "load_local_tokenizer",
    "load_model",
    "load_tokenizer",
    "metaspace_tokenizer",
    "minimum_vocab_size",
    "resolve",
    "tokenizer_from",
    "train_tokenizer",
]
