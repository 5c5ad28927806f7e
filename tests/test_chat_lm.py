"""ChatLM: a response perplexity that does not depend on the training mask; embeddings fit the tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from helpers.configs import compose_config
from hydra.utils import instantiate

from maeum.backbones import build_tiny, load_tokenizer
from maeum.errors import MaeumError
from maeum.models.chat_lm import ChatLM

OPTIMIZER = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}


def validate(model: ChatLM, tmp_path: Path, mask: str) -> dict[str, float]:
    cfg = compose_config(
        "train", tmp_path, ["experiment=chatbot/sample_tiny", f"data.label_mask={mask}", "~logger"]
    )
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False, enable_checkpointing=False)
    (metrics,) = trainer.validate(model, datamodule=instantiate(cfg.data), verbose=False)
    return metrics


@pytest.mark.e2e
def test_response_ppl_is_the_same_whatever_the_mask(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ChatLM(backbone="tiny_gpt2", optimizer=OPTIMIZER)
    results = {
        mask: validate(model, tmp_path / mask, mask) for mask in ("input", "last_sys", "all_sys", "shift")
    }
    ppl = results["last_sys"]["val/response_ppl"]
    assert ppl > 1
    for mask, metrics in results.items():
        assert metrics["val/response_ppl"] == pytest.approx(ppl, rel=1e-5), mask
        assert metrics["val/response_acc"] == pytest.approx(results["last_sys"]["val/response_acc"], abs=1e-6)
    assert len({round(m["val/loss"], 4) for m in results.values()}) == 4  # losses over different token sets
    assert results["last_sys"]["val/loss"] == pytest.approx(torch.log(torch.tensor(ppl)).item(), rel=0.02)


@pytest.mark.unit
def test_embeddings_grow_to_the_tokenizer(tmp_path: Path, caplog) -> None:
    directory = tmp_path / "gpt2-plus"
    shutil.copytree(build_tiny("tiny_gpt2"), directory)
    tokenizer = load_tokenizer(str(directory))
    before = len(tokenizer)
    tokenizer.add_tokens(["<emotion>", "<persona>"])
    tokenizer.save_pretrained(directory)
    with caplog.at_level("INFO"):
        model = ChatLM(backbone=str(directory), optimizer=OPTIMIZER)
    assert model.model.get_input_embeddings().num_embeddings == len(tokenizer) == before + 2
    assert any("Resizing" in r.getMessage() for r in caplog.records)


@pytest.mark.unit
def test_an_id_past_the_embeddings_is_refused_before_the_forward_pass() -> None:
    model = ChatLM(backbone="tiny_gpt2", optimizer=OPTIMIZER)
    size = model.model.get_input_embeddings().num_embeddings
    ids = torch.tensor([[2, size]])
    with pytest.raises(MaeumError, match=f"token id {size} is outside the model's {size} embeddings"):
        model(ids, torch.ones_like(ids))


@pytest.mark.e2e
def test_chatbot_train_then_eval_reproduces_the_response_metrics(tmp_path: Path) -> None:
    from maeum.eval import evaluate
    from maeum.train import train

    run = compose_config(
        "train", tmp_path / "run", ["experiment=chatbot/sample_tiny", "trainer.max_epochs=2", "logger=csv"]
    )
    metrics = train(run)
    assert metrics["test/response_ppl"] > 1 and 0 <= metrics["test/response_acc"] <= 1
    (best,) = (tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt")
    again = evaluate(compose_config("eval", tmp_path / "eval", [f"ckpt_path={best}"]))
    for name in ("test/loss", "test/response_ppl", "test/response_acc"):
        assert again[name] == pytest.approx(metrics[name], rel=1e-6), name
