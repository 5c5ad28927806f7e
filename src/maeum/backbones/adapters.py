"""Adapters through peft: LoRA (and DoRA) on any backbone, QLoRA's 4-bit base, and a fingerprint of the
base weights that an adapter export is checked against.

`model.peft` (`conf/model/peft/lora.yaml`, chosen with `model/peft=lora`; `model.peft=lora` takes the same
defaults) is applied once, right after `load_model`, by `add_adapters`. Only the adapters (and the modules
in `modules_to_save`) are trainable; the base weights are frozen and never change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from maeum.errors import MaeumError

LORA_DEFAULTS: dict[str, Any] = {
    "method": "lora",
    "r": 8,
    "alpha": 16,
    "dropout": 0.05,
    "target_modules": "all-linear",
    "use_dora": False,
}
QUANTIZATIONS = ("nf4",)


def lora_settings(peft: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """`model.peft` as a full dict of LoRA settings (None: no adapters)."""
    if peft is None or peft is False:
        return None
    if isinstance(peft, str):
        if peft != "lora":
            raise MaeumError(f"model.peft={peft}: the adapters maeum builds are 'lora' (model/peft=lora)")
        peft = {}
    settings = {**LORA_DEFAULTS, **dict(peft)}
    if settings["method"] != "lora" or set(settings) - set(LORA_DEFAULTS):
        unknown = sorted(set(settings) - set(LORA_DEFAULTS))
        raise MaeumError(
            f"model.peft: method '{settings['method']}' with {unknown or 'its fields'}; maeum builds LoRA"
            f" with the fields {', '.join(LORA_DEFAULTS)}"
        )
    return settings


def add_adapters(
    model: PreTrainedModel,
    peft: Mapping[str, Any] | str | None,
    *,
    task_type: str,
    gradient_checkpointing: bool = False,
    quantized: bool = False,
) -> nn.Module:
    """`model` with LoRA adapters from `model.peft` (unchanged when it is None): a `PeftModel` whose only
    trainable parameters are the adapters. `task_type` is peft's (`CAUSAL_LM`, `FEATURE_EXTRACTION`)."""
    settings = lora_settings(peft)
    if settings is None:
        return model
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:  # checkpointed blocks need an input that requires grad: the embeddings'
        model.enable_input_require_grads()
    target = settings["target_modules"]
    config = LoraConfig(
        task_type=task_type,
        r=settings["r"],
        lora_alpha=settings["alpha"],
        lora_dropout=settings["dropout"],
        target_modules=target if isinstance(target, str) else list(target),
        use_dora=settings["use_dora"],
    )
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        if "not found" not in str(err) and "no module" not in str(err).lower():
            raise
        names = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules() if _is_linear(m)})
        raise MaeumError(
            f"model.peft.target_modules={target} matches no module of {type(model).__name__}: its linear"
            f" layers are named {', '.join(names)} (or use all-linear)"
        ) from None


def _is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def quantization_config(quantization: str | None) -> dict[str, Any]:
    """`from_pretrained` kwargs for `model.quantization` (QLoRA's NF4 base); refused without CUDA."""
    if not quantization:
        return {}
    if quantization not in QUANTIZATIONS:
        raise MaeumError(f"model.quantization={quantization}: use one of {', '.join(QUANTIZATIONS)}, or null")
    if not torch.cuda.is_available():
        raise MaeumError(
            "model.quantization=nf4 (QLoRA) loads the base in 4 bits with bitsandbytes, which needs a CUDA"
            " GPU, and this machine has none: drop model.quantization to train LoRA on the full-precision"
            " base (model/peft=lora), or run on a GPU (trainer=gpu)."
        )
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise MaeumError("model.quantization=nf4 needs bitsandbytes: pip install 'maeum[qlora]'")
    from transformers import BitsAndBytesConfig

    config = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    return {"quantization_config": config}


def is_adapted(model: nn.Module) -> bool:
    return hasattr(model, "peft_config")


def base_fingerprint(model: nn.Module) -> str:
    """A hash of a model's base weights (adapters excluded): their names, shapes and sums, in float64."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            if "lora_" in name or "modules_to_save" in name:
                continue
            name = name.replace("base_model.model.", "").replace(".base_layer", "")
            digest.update(f"{name}{tuple(tensor.shape)}{float(tensor.double().sum()):.6e}".encode())
    return digest.hexdigest()[:16]


def trainable_counts(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameters."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
