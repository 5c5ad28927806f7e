"""Log-probabilities of target tokens under a causal LM: the one scoring code that preference tuning
(`maeum.models.preference`) and reply selection (`maeum.training.reply_selection`) share.

A row's targets are its labels other than -100 (a laid-out dialogue under `last_sys`: the final reply and its
closing tokens, `maeum.data.dialogue.encoding`). Position i predicts token i + 1, so the last logit and the
first label are dropped.

Only the target positions are scored: the decoder's hidden states at those positions go through the output
layer, never the whole (batch, length, vocabulary) logits. A reply is about a quarter of a dialogue's tokens
and the output layer is most of a small model's cost (Qwen's vocabulary is 152k), so this takes 2-3.4x less
time than scoring every position (`scripts/bench_dpo.py`) and far less memory. It holds for the
architectures whose logits are the output layer of the last hidden state (`PLAIN_HEADS`); any other model
is scored through its own forward pass, whole.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F  # noqa: N812

from maeum.data.dialogue.records import IGNORE_INDEX

# model types whose logits are `lm_head(last_hidden_state)`: no softcapping, no logit scale
PLAIN_HEADS = frozenset({"gpt2", "llama", "qwen2", "qwen3", "mistral"})


def target_logps(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Each row's summed log-probability of its target tokens, and their count, from whole logits.

    Args:
        logits: (B, T, V) a causal LM's logits over `input_ids`.
        labels: (B, T) `input_ids` where a token is a target, -100 elsewhere.

    Returns:
        (B,) summed log-probabilities (fp32, 0 for a row without targets) and (B,) target counts.
    """
    logits = logits[:, :-1]  # (B, T-1, V)
    target = labels[:, 1:]  # (B, T-1)
    token_nll = F.cross_entropy(  # flat rows: (B*(T-1), V) is 2-4x faster on CPU than (B, V, T-1)
        logits.reshape(-1, logits.shape[-1]).float(),
        target.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(target.shape)  # (B, T-1), 0 where ignored
    return -token_nll.sum(dim=1), (target != IGNORE_INDEX).sum(dim=1)


def sequence_logps(
    model: Any, input_ids: Tensor, attention_mask: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor]:
    """`target_logps` of a model's forward pass (no cache), scoring the target positions only where the
    architecture allows (module docstring). Under peft the adapters act as they are set (on, or disabled by
    `disable_adapter()`)."""
    parts = _decoder_and_head(model)
    if parts is None:
        out = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return target_logps(out.logits, labels)
    decoder, head = parts
    hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    target = labels[:, 1:]  # (B, T-1)
    keep = target != IGNORE_INDEX  # (B, T-1)
    logits = head(hidden[:, :-1][keep]).float()  # (N, V): the target positions only
    token_nll = F.cross_entropy(logits, target[keep], reduction="none")  # (N,)
    rows = keep.nonzero(as_tuple=True)[0]  # (N,) the row of each target
    total = torch.zeros(len(labels), dtype=token_nll.dtype, device=token_nll.device)
    return -total.index_add(0, rows, token_nll), keep.sum(dim=1)


@torch.no_grad()
def mean_logps(model: Any, input_ids: Tensor, attention_mask: Tensor, labels: Tensor) -> Tensor:
    """(B,) mean log-probability per target token (-inf for a row without targets): reply selection score."""
    total, count = sequence_logps(model, input_ids, attention_mask, labels)
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("-inf")))


def _decoder_and_head(model: Any) -> tuple[Any, Any] | None:
    """The decoder and the output layer of a causal LM whose logits are `head(decoder(...))`, else None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft: the wrapped model
    config = getattr(base, "config", None)
    if getattr(config, "model_type", None) not in PLAIN_HEADS:
        return None
    head = base.get_output_embeddings()
    decoder = getattr(base, base.base_model_prefix, None)
    if head is None or decoder is None or decoder is base:
        return None
    return decoder, head
