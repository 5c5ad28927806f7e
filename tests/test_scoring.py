"""The target-position scoring of `maeum.models.scoring` equals the whole-logits scoring it replaces, on both
layouts' twins, with LoRA adapters acting and disabled."""

from __future__ import annotations

import pytest
import torch

from maeum.backbones import load_model
from maeum.backbones.adapters import add_adapters
from maeum.models.scoring import _decoder_and_head, sequence_logps, target_logps

pytestmark = pytest.mark.unit

LORA = {"method": "lora", "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded rows of different lengths whose targets are a tail of each, one row without any."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (4, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 6:] = 0
    labels = torch.full_like(ids, -100)
    for row, (begin, end) in enumerate([(7, 12), (4, 9), (3, 6), (0, 0)]):
        labels[row, begin:end] = ids[row, begin:end]
    return ids, mask, labels


@pytest.mark.parametrize("backbone", ["tiny_gpt2", "tiny_llama3"])
def test_scoring_the_targets_only_equals_scoring_every_position(backbone: str) -> None:
    model = load_model(backbone, causal_lm=True).eval()
    assert _decoder_and_head(model) is not None  # the fast path is the one tested
    ids, mask, labels = batch(model.config.vocab_size)
    with torch.no_grad():
        whole = target_logps(model(input_ids=ids, attention_mask=mask).logits, labels)
        fast = sequence_logps(model, ids, mask, labels)
    assert torch.allclose(fast[0], whole[0], atol=1e-4) and torch.equal(fast[1], whole[1])
    assert fast[0][3] == 0 and fast[1][3] == 0  # a row without targets

    adapted = add_adapters(model, LORA, task_type="CAUSAL_LM").eval()
    with torch.no_grad():
        for p in adapted.parameters():
            if p.requires_grad:
                p.add_(0.1)  # the adapters act
        acting = sequence_logps(adapted, ids, mask, labels)[0]
        assert torch.allclose(
            acting, target_logps(adapted(input_ids=ids, attention_mask=mask).logits, labels)[0], atol=1e-4
        )
        assert not torch.allclose(acting, whole[0], atol=1e-3)
        with adapted.disable_adapter():
            assert torch.allclose(sequence_logps(adapted, ids, mask, labels)[0], whole[0], atol=1e-4)


def test_gradients_flow_through_the_target_positions() -> None:
    model = load_model("tiny_gpt2", causal_lm=True).eval()
    ids, mask, labels = batch(model.config.vocab_size)
    sequence_logps(model, ids, mask, labels)[0].sum().backward()
    fast = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    target_logps(model(input_ids=ids, attention_mask=mask).logits, labels)[0].sum().backward()
    for name, p in model.named_parameters():
        assert torch.allclose(fast[name], p.grad, atol=1e-4), name
