"""Token embeddings that fit the tokenizer: grown for added tokens, new rows the mean of the old ones.

A tokenizer extended with `add_tokens` (`maeum-tokenizer extend`) has more ids than its model has rows.
`grow_embeddings` adds the rows, input and (untied) output alike, and sets each new row to the mean of the
old rows exactly: a new token then starts where an average token is, and a causal LM's next-token
distribution barely moves (Hewitt, "Initializing new word embeddings for pretrained language models").
transformers' own `mean_resizing=True` draws the rows from a normal around that mean instead.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from transformers import PreTrainedModel

from maeum.errors import MaeumError

log = logging.getLogger(__name__)


def embedding_rows(module: nn.Module) -> int | None:
    """The input-embedding rows of the first Hugging Face model inside `module` (a LightningModule, an
    adapter wrapper, ...), or None if it holds none."""
    for sub in module.modules():
        if isinstance(sub, PreTrainedModel):
            return sub.get_input_embeddings().num_embeddings
    return None


def grow_embeddings(model: PreTrainedModel, rows: int, name: str = "the model") -> int:
    """Grow `model`'s input and untied output embeddings to `rows` rows, each new row (and output bias)
    the mean of the old ones; never shrink. Returns the number of rows added (logged when any)."""
    inputs = model.get_input_embeddings()
    old = inputs.num_embeddings
    if rows <= old:
        return 0
    output = model.get_output_embeddings()
    with torch.no_grad():
        means = [inputs.weight.mean(dim=0)]
        if output is not None and output.weight is not inputs.weight:
            means.append(output.weight.mean(dim=0))
            bias = getattr(output, "bias", None)
            means.append(bias.mean() if bias is not None else None)
    log.info(
        "Resizing %s's token embeddings from %d to %d rows for the tokenizer's added tokens; the new rows"
        " are the mean of the old ones",
        name,
        old,
        rows,
    )
    with torch.random.fork_rng(devices=[]):  # the rows it draws are overwritten: keep the caller's RNG
        model.resize_token_embeddings(rows, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[old:] = means[0]
        if len(means) > 1:
            output = model.get_output_embeddings()
            output.weight[old:] = means[1]
            if means[2] is not None:
                output.bias[old:] = means[2]
    return rows - old


def check_ids(input_ids: torch.Tensor, model: PreTrainedModel) -> None:
    """Refuse token ids at or past `model`'s embeddings before they index them (on CUDA, a device-side
    assert that names nothing)."""
    rows = model.get_input_embeddings().num_embeddings
    if (top := int(input_ids.max())) >= rows:
        raise MaeumError(
            f"token id {top} is outside the model's {rows} embeddings: the tokenizer does not match the"
            " backbone (the 'CUDA device-side assert' of the original notebooks)."
        )
