"""The tiny offline backbones: `tiny_bert` and `tiny_gpt2`, stand-ins for `skt/kobert-base-v1` and
`skt/kogpt2-base-v2`, and the chat-template twins `tiny_qwen3`, `tiny_qwen2_5` and `tiny_llama3`
(`maeum.backbones.tiny_chat`).

They are tiny and randomly initialised. Their tokenizers are trained on the Korean sample that ships with
maeum (by `maeum.backbones.tokenizer_training`, which `maeum-tokenizer train` uses on whole corpora) and
keep the real models' special tokens at the real ids. Each is built once into the cache
(`maeum.paths.cache_dir()/backbones`) as an ordinary Hugging Face directory, then loaded like any other.
The architecture differences between the two are data (`TinySpec`), not code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tokenizers
import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from maeum.backbones.tiny_chat import (
    LLAMA3_CHAT_TEMPLATE,
    LLAMA3_ROLES,
    LLAMA3_SPECIAL_TOKENS,
    TINY_CAUSAL,
    real_tokenizer_dir,
    save_byte_level_tokenizer,
    save_real_tokenizer,
    source_digest,
)
from maeum.backbones.tokenizer_repairs import (
    KOBERT_ROLES,
    KOBERT_SPECIAL_TOKENS,
    KOGPT2_EMOTICONS,
    KOGPT2_ROLES,
    KOGPT2_SPECIAL_TOKENS,
    load_local_tokenizer,
)
from maeum.backbones.tokenizer_training import (
    KOREAN_ALPHABET,
    common_korean_alphabet,  # noqa: F401  (its old home: maeum.backbones.tiny.common_korean_alphabet)
    train_kobert,
    train_kogpt2,
)
from maeum.paths import cache_dir, resource

log = logging.getLogger(__name__)

BUILD_VERSION = 6  # bump when the build recipe changes; it is part of the cache key


@dataclass(frozen=True)
class TinySpec:
    """Recipe for one tiny offline backbone: tokenizer algorithm, special tokens and model shape."""

    mimics: str  # the hub checkpoint whose tokens and ids it copies
    # "sentencepiece" (KoBERT's spiece.model format), "bpe" (KoGPT2's Metaspace tokenizer.json),
    # "byte_bpe" (a byte-level BPE with `chat_template`) or "real" (the real one, from `tokenizer_folder`)
    tokenizer_model: str
    special_tokens: tuple[str, ...]  # trained first, so they get ids 0..n-1 in this order
    roles: dict[str, str]  # unk_token, pad_token, ... as PreTrainedTokenizerFast kwargs
    vocab_size: int
    model_type: str
    causal_lm: bool
    model_max_length: int
    model_config: dict[str, Any] = field(default_factory=dict)
    with_labels: bool = False  # also train the tokenizer on the sample's label and condition words
    emoticons: tuple[str, ...] = ()  # added as special tokens after training, as in KoGPT2
    alphabet: tuple[str, ...] = ()  # characters in the vocabulary whether or not the sample has them
    chat_template: str | None = None  # byte_bpe: the family's chat template
    tokenizer_folder: str | None = None  # real: its folder under $MAEUM_CHAT_TOKENIZERS


TINY_SPECS: dict[str, TinySpec] = {
    "tiny_bert": TinySpec(
        mimics="skt/kobert-base-v1",
        tokenizer_model="sentencepiece",
        special_tokens=KOBERT_SPECIAL_TOKENS,
        roles=KOBERT_ROLES,
        # KoBERT's size, as an upper bound: the sample supports about 3,000 pieces (the alphabet's ~2,500
        # plus what it learns), and more text would be needed for more; <unk> depends on the alphabet only
        vocab_size=8002,
        model_type="bert",
        causal_lm=False,
        model_max_length=512,
        model_config={
            "hidden_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 512,
            "max_position_embeddings": 512,
            "type_vocab_size": 2,
            "pad_token_id": 1,
        },
        alphabet=KOREAN_ALPHABET,
    ),
    "tiny_gpt2": TinySpec(
        mimics="skt/kogpt2-base-v2",
        tokenizer_model="bpe",
        special_tokens=KOGPT2_SPECIAL_TOKENS,
        roles=KOGPT2_ROLES,
        vocab_size=6000,  # the common alphabet (about 2,500) plus every merge the sample offers
        model_type="gpt2",
        causal_lm=True,
        model_max_length=1024,
        model_config={
            "n_embd": 128,
            "n_layer": 2,
            "n_head": 2,
            "n_positions": 1024,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 3,
        },
        with_labels=True,  # dialogue templates put the condition (an emotion name) into the input
        emoticons=KOGPT2_EMOTICONS,
        alphabet=KOREAN_ALPHABET,
    ),
    "tiny_qwen3": TinySpec(
        mimics="Qwen/Qwen3-0.6B",
        tokenizer_model="real",
        special_tokens=(),
        roles={},
        vocab_size=151936,  # the real config's (the tokenizer's 151,669 padded)
        model_type="qwen3",
        causal_lm=True,
        model_max_length=1024,
        model_config={**TINY_CAUSAL, "tie_word_embeddings": True},
        tokenizer_folder="qwen3-0.6b",
    ),
    "tiny_qwen2_5": TinySpec(
        mimics="Qwen/Qwen2.5-0.5B-Instruct",
        tokenizer_model="real",
        special_tokens=(),
        roles={},
        vocab_size=151936,
        model_type="qwen2",
        causal_lm=True,
        model_max_length=1024,
        model_config={**TINY_CAUSAL, "tie_word_embeddings": True},
        tokenizer_folder="qwen2.5-0.5b-instruct",
    ),
    "tiny_llama3": TinySpec(
        mimics="meta-llama/Llama-3.2-1B-Instruct",  # the layout of the Korean Llama-3 fine-tunes
        tokenizer_model="byte_bpe",
        special_tokens=LLAMA3_SPECIAL_TOKENS,
        roles=LLAMA3_ROLES,
        vocab_size=4000,
        model_type="llama",
        causal_lm=True,
        model_max_length=1024,
        model_config={**TINY_CAUSAL, "tie_word_embeddings": False},
        with_labels=True,
        chat_template=LLAMA3_CHAT_TEMPLATE,
    ),
}
SAMPLE_FILES = ("emotion_sample.tsv", "dialogue_sample.jsonl")


def build_tiny(name: str, root: Path | None = None) -> Path:
    """Build the tiny backbone `name` into the cache unless it is already there; return its directory.

    The build is deterministic: the same recipe, sample text and library versions give the same files.
    It is written to a temporary sibling and renamed into place, so concurrent builds cannot collide.
    """
    spec = TINY_SPECS[name]
    texts = _sample_texts(with_labels=spec.with_labels)
    source = real_tokenizer_dir(spec.tokenizer_folder, name, spec.mimics) if spec.tokenizer_folder else None
    key = _fingerprint(spec, texts, source_digest(source) if source else "")
    target = (root or cache_dir()) / "backbones" / f"{name}-{key}"
    if (target / "config.json").is_file():
        return target
    log.info("Building offline backbone %s (stand-in for %s) in %s", name, spec.mimics, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        if source is not None:
            save_real_tokenizer(source, tmp, spec.model_max_length)
        else:
            _save_tokenizer(spec, texts, tmp)
        tokenizer = load_local_tokenizer(tmp)  # read back as every local directory is
        vocab_size = max(len(tokenizer), spec.vocab_size) if source is not None else len(tokenizer)
        ids = {
            f"{role}_id": getattr(tokenizer, f"{role}_id") for role in ("bos_token", "eos_token", "pad_token")
        }
        ids = {k: v for k, v in ids.items() if v is not None and k not in spec.model_config}
        config = AutoConfig.for_model(spec.model_type, vocab_size=vocab_size, **{**ids, **spec.model_config})
        auto_class = AutoModelForCausalLM if spec.causal_lm else AutoModel
        with torch.random.fork_rng(devices=[]):  # deterministic weights, caller's RNG left untouched
            torch.manual_seed(0)
            auto_class.from_config(config).save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished the same build first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _sample_texts(*, with_labels: bool = False) -> list[str]:
    """Every sentence and dialogue turn of the Korean sample that ships with maeum (and its labels)."""
    with resource(SAMPLE_FILES[0]).open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    with resource(SAMPLE_FILES[1]).open(encoding="utf-8") as f:
        dialogues = [json.loads(line) for line in f if line.strip()]
    texts = [row["text"] for row in rows] + [turn["text"] for d in dialogues for turn in d["turns"]]
    if with_labels:
        texts += sorted(
            {row["label"] for row in rows} | {d["condition"] for d in dialogues if d.get("condition")}
        )
    return texts


def _fingerprint(spec: TinySpec, texts: list[str], source: str = "") -> str:
    versions = (BUILD_VERSION, tokenizers.__version__, transformers.__version__, torch.__version__)
    payload = json.dumps([asdict(spec), texts, versions, source], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _save_tokenizer(spec: TinySpec, texts: list[str], out: Path) -> None:
    """Train a tiny backbone's tokenizer and save it in the format of the model it stands in for."""
    out.mkdir(parents=True, exist_ok=True)
    if spec.tokenizer_model == "byte_bpe":  # a chat twin's: byte-level BPE, specials, chat template
        save_byte_level_tokenizer(
            texts,
            out,
            vocab_size=spec.vocab_size,
            special_tokens=spec.special_tokens,
            roles=spec.roles,
            chat_template=spec.chat_template,
            model_max_length=spec.model_max_length,
        )
        return
    # KoBERT: spiece.model + a config naming KoBERTTokenizer; KoGPT2: Metaspace BPE in tokenizer.json
    train = train_kobert if spec.tokenizer_model == "sentencepiece" else train_kogpt2
    extra = {"emoticons": spec.emoticons} if spec.tokenizer_model == "bpe" else {}
    train(
        texts,
        out,
        spec.vocab_size,
        special_tokens=spec.special_tokens,
        roles=spec.roles,
        alphabet=spec.alphabet,
        model_max_length=spec.model_max_length,
        **extra,
    )
