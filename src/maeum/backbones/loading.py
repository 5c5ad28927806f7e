"""`load_tokenizer` and `load_model`: any backbone name (tiny, local directory, hub id) behind one
`from_pretrained`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
)

from maeum.backbones.hub import looks_like_path, resolve_hub_id
from maeum.backbones.tiny import TINY_SPECS, build_tiny
from maeum.backbones.tokenizer_repairs import tokenizer_from
from maeum.errors import BackboneError


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """Tokenizer for `tiny_bert`, `tiny_gpt2`, a local directory or a hub id
    (`maeum.backbones.tokenizer_repairs` holds the KoBERT and KoGPT2 repairs)."""
    return tokenizer_from(*resolve(name_or_path), name=name_or_path)


def load_model(
    name_or_path: str,
    *,
    causal_lm: bool = False,
    masked_lm: bool = False,
    pretrained: bool = True,
    **kwargs: Any,
) -> PreTrainedModel:
    """Encoder (`AutoModel`), causal LM (`AutoModelForCausalLM`) or masked LM (`AutoModelForMaskedLM`)
    for a backbone.

    With `pretrained=False` only the config is read and the weights are freshly initialised; use it when a
    checkpoint will overwrite them anyway (re-loading a fine-tuned model).
    """
    auto_class = AutoModelForCausalLM if causal_lm else AutoModelForMaskedLM if masked_lm else AutoModel
    source, local_only = resolve(name_or_path)
    try:
        if pretrained:
            return auto_class.from_pretrained(source, local_files_only=local_only, **kwargs)
        config = AutoConfig.from_pretrained(source, local_files_only=local_only, **kwargs)
        return auto_class.from_config(config)
    except (OSError, ValueError) as err:
        raise BackboneError(f"could not load a model from '{name_or_path}': {err}") from err


def architecture(name_or_path: str) -> str | None:
    """`"encoder"` (BERT, RoBERTa, ELECTRA, ...: every position sees the whole text) or `"decoder"` (GPT-2,
    Llama, Qwen, ...: a position sees only what comes before it) by the backbone's config; None when the
    config cannot be read here (an unreachable hub id: loading it says why) or is neither (encoder-decoder).

    A BERT config is an encoder although transformers has a causal head for it (`BertLMHeadModel`): built
    without `is_decoder`, every position there sees the token it must predict.
    """
    try:
        source, local_only = resolve(name_or_path)
        config = AutoConfig.from_pretrained(source, local_files_only=local_only)
    except (BackboneError, OSError, ValueError):
        return None
    if getattr(config, "is_encoder_decoder", False):
        return None
    model_type = config.model_type
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
        return "encoder"
    return "decoder" if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES else None


def block_classes(name_or_path: str) -> set[type[torch.nn.Module]]:
    """The backbone's repeated transformer block class (`GPT2Block`, `BertLayer`, ...), read from the model:
    the classes of its `_no_split_modules` that occur more than once. FSDP wraps and checkpoints these
    (`conf/trainer/fsdp.yaml`). The model is built on the meta device: no weights are loaded."""
    source = resolve(name_or_path)[0]  # a tiny backbone is built here, off the meta device
    with torch.device("meta"):  # the encoder has the same blocks as its *ForCausalLM / *ForSequence... heads
        model = load_model(source, pretrained=False)
    names = set(model._no_split_modules or [])
    counts = Counter(type(m) for m in model.modules() if type(m).__name__ in names)
    blocks = {cls for cls, n in counts.items() if n > 1} or set(counts)
    if not blocks:
        raise BackboneError(f"'{name_or_path}' names no transformer block class (_no_split_modules)")
    return blocks


def resolve(name_or_path: str) -> tuple[str, bool]:
    """What to hand `from_pretrained`, and whether it must stay offline (`local_files_only`)."""
    if name_or_path in TINY_SPECS:
        return str(build_tiny(name_or_path)), True
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return str(path.resolve()), True
    if looks_like_path(name_or_path):
        raise BackboneError(
            f"backbone directory not found: {path}. Point backbone.name_or_path at a folder written by "
            "`save_pretrained` (or by `hf download <id> --local-dir <folder>`), or use a hub id."
        )
    return resolve_hub_id(name_or_path)
