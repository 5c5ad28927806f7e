"""Pretraining on raw text (`maeum.data.text`, `maeum.models.pretrain`): documents, hash splits, token
streams and blocks, BERT's masking, `val/bpc` against an independent computation, and both objectives
trained through `maeum-train`, killed mid-epoch, resumed bit for bit and fine-tuned from their directory."""

from __future__ import annotations

import json
import math
import os
import signal
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from helpers import corpora, entry_points
from helpers.configs import REPO, compose_config
from pytorch_lightning import Trainer

from maeum.backbones import load_tokenizer
from maeum.data.text.datamodule import BlockCollator, TextDataModule
from maeum.data.text.documents import hash_split, read_documents
from maeum.errors import DataError, MaeumError
from maeum.eval import evaluate
from maeum.models.pretrain import PretrainLM, build_model
from maeum.train import train

HERE = Path(__file__).resolve().parent
OPTIMIZER = {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}


def datamodule(path: Path, tmp_path: Path, **kwargs: object) -> TextDataModule:
    settings = {"tokenizer": "tiny_gpt2", "block_size": 32, "val_fraction": 0.2, "cache_dir": str(tmp_path)}
    return TextDataModule(path=str(path), **{**settings, **kwargs})


@pytest.mark.unit
def test_documents_are_read_counted_and_split_by_their_text(tmp_path: Path) -> None:
    path = corpora.korean_text(tmp_path / "말뭉치 (1).txt", lines=60)
    docs = read_documents(str(path))
    assert len(docs.texts) == 60 and docs.skipped == Counter({"empty documents": 1})
    assert "ㅋㅋㅋㅋ 진짜 웃기다 😂" in docs.texts
    paragraphs = tmp_path / "문단.txt"
    paragraphs.write_text("첫 문단의\n둘째 줄 ㅎㅎ\n\n\n둘째 문단\n", encoding="utf-8")
    assert read_documents(str(paragraphs), layout="paragraph").texts == [
        "첫 문단의 둘째 줄 ㅎㅎ",
        "둘째 문단",
    ]
    splits = hash_split([*docs.texts, *docs.texts], 0.3, 0.2, seed=42)
    assert splits[:60] == splits[60:]  # a duplicate never crosses the split
    assert Counter(splits)["val"] > 0 and Counter(splits)["test"] > 0
    assert hash_split(docs.texts, 0.3, 0.2, seed=42) == splits[:60]


@pytest.mark.unit
def test_bad_text_gets_one_clear_error(tmp_path: Path) -> None:
    cp949 = tmp_path / "옛 파일 (cp949).txt"
    cp949.write_bytes("좋은 아침\n".encode() + "안녕".encode("cp949"))
    with pytest.raises(DataError, match=r"옛 파일 \(cp949\)\.txt: not UTF-8 at byte offset 14 \(line 2\)"):
        read_documents(str(cp949))
    empty = tmp_path / "빈 파일.txt"
    empty.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty corpus"):
        read_documents(str(empty))
    with pytest.raises(DataError, match="no such text file"):
        read_documents(str(tmp_path / "없음*.txt"))
    text = corpora.korean_text(tmp_path / "말뭉치.txt")
    with pytest.raises(DataError, match="masked LM needs a mask token"):
        datamodule(text, tmp_path, tokenizer="tiny_llama3", objective="masked").setup("fit")


@pytest.mark.unit
def test_every_token_after_the_first_is_a_target_once_and_characters_add_up(tmp_path: Path) -> None:
    path = corpora.korean_text(tmp_path / "말뭉치.txt")
    data = datamodule(path, tmp_path, val_path=str(path))
    data.setup("fit")
    stream = torch.from_numpy(data.streams["train"].ids.astype("int64"))
    blocks = data.datasets["train"]
    batch = data.collator()([blocks[i] for i in range(len(blocks))])
    targets = batch["labels"][:, 1:]
    assert torch.equal(targets[targets != -100], stream[1:])
    docs = read_documents(str(path)).texts
    assert int(batch["chars"][:, 1:][targets != -100].sum()) == sum(len(d) + 1 for d in docs)
    counts = data.counts["train"]
    assert counts["documents"] == len(docs) and counts["characters"] == sum(len(d) + 1 for d in docs)
    long = datamodule(path, tmp_path, val_path=str(path), block_size=8)
    long.setup("fit")
    assert long.counts["train"]["documents longer than a block (split)"] > 0


@pytest.mark.unit
def test_val_bpc_is_the_summed_nll_in_bits_over_the_characters(tmp_path: Path) -> None:
    path = corpora.korean_text(tmp_path / "검증 문서.txt", lines=12)
    data = datamodule(path, tmp_path, val_path=str(path), block_size=1024)  # the whole text in one block
    model = PretrainLM("tiny_gpt2", "causal", OPTIMIZER, from_scratch=False)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False)
    (metrics,) = trainer.validate(model, datamodule=data, verbose=False)

    tokenizer = load_tokenizer("tiny_gpt2")
    docs = read_documents(str(path)).texts
    ids = [tokenizer.eos_token_id]
    for doc in docs:
        ids += [*tokenizer(doc, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    with torch.no_grad():
        logits = model.model.eval()(torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits[:-1].double(), dim=-1)
    nll = -logp.gather(1, torch.tensor(ids[1:])[:, None]).sum()
    characters = sum(len(doc) + 1 for doc in docs)  # each document's characters and its line end
    assert metrics["val/bpc"] == pytest.approx(float(nll / math.log(2) / characters), rel=1e-5)
    assert metrics["val/ppl"] == pytest.approx(math.exp(float(nll) / (len(ids) - 1)), rel=1e-4)


@pytest.mark.unit
def test_masked_lm_chooses_15_percent_80_10_10_never_specials_and_repeats_by_draw(tmp_path: Path) -> None:
    path = corpora.korean_text(tmp_path / "말뭉치.txt", lines=600)
    data = datamodule(path, tmp_path, tokenizer="tiny_bert", objective="masked", val_path=str(path))
    data.setup("fit")
    tokenizer, blocks = data.tokenizer, data.datasets["train"]
    rows = [blocks[i] for i in range(len(blocks))]
    collate = data.collator()
    batch = collate(rows)
    original = torch.nn.utils.rnn.pad_sequence([r["input_ids"] for r in rows], batch_first=True)
    chosen = batch["labels"] != -100
    special = torch.isin(original, torch.tensor(tokenizer.all_special_ids)) | (batch["attention_mask"] == 0)
    assert not (chosen & special).any()
    assert torch.equal(batch["labels"][chosen], original[chosen])
    share = chosen.sum() / (~special).sum()
    assert 0.13 < float(share) < 0.17
    masked = (batch["input_ids"] == tokenizer.mask_token_id) & chosen
    kept = (batch["input_ids"] == original) & chosen
    assert 0.77 < float(masked.sum() / chosen.sum()) < 0.83
    assert 0.07 < float(kept.sum() / chosen.sum()) < 0.13  # keep (and the rare random draw of itself)
    assert torch.equal(collate(rows)["input_ids"], batch["input_ids"])  # the same draws, the same masks
    later = [{**r, "draw": r["draw"] + len(blocks)} for r in rows]  # the same blocks in the next epoch
    assert not torch.equal(collate(later)["input_ids"], batch["input_ids"])
    assert isinstance(collate, BlockCollator)


@pytest.mark.unit
def test_maeum_eval_measures_a_causal_backbone_on_a_text_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = corpora.korean_text(tmp_path / "평가 문서 (held-out).txt", lines=24)
    overrides = ["data=text/files", f"data.test_path='{text}'", "backbone=tiny_gpt2"]
    metrics = evaluate(compose_config("eval", tmp_path, overrides))
    data = TextDataModule(path=None, tokenizer="tiny_gpt2", test_path=str(text), cache_dir=str(tmp_path))
    model = PretrainLM("tiny_gpt2", "causal", OPTIMIZER, from_scratch=False)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False)
    (expected,) = trainer.test(model, datamodule=data, verbose=False)
    assert metrics["test/bpc"] == pytest.approx(expected["test/bpc"]) and metrics["test/bpc"] > 0
    with pytest.raises(SystemExit):
        evaluate(compose_config("eval", tmp_path))
    assert "give ckpt_path=CKPT to re-test a trained run, or measure" in caplog.text


@pytest.mark.unit
def test_a_padded_vocabulary_sizes_the_embeddings_and_a_smaller_one_is_refused() -> None:
    padded = build_model(
        "tiny_gpt2", "tiny_gpt2", "causal", from_scratch=True, backbone_config={"vocab_size": 8192}
    )
    assert padded.get_input_embeddings().num_embeddings == padded.config.vocab_size == 8192
    assert padded.get_output_embeddings().weight is padded.get_input_embeddings().weight  # still tied
    with pytest.raises(MaeumError, match="vocab_size=100 is below the tokenizer's"):
        build_model(
            "tiny_gpt2", "tiny_gpt2", "causal", from_scratch=True, backbone_config={"vocab_size": 100}
        )


# ------------------------------------------------------------------------- maeum-train, killed and resumed
def pretrain(run_dir: Path, text: Path, objective: str, *extra: str, killed: bool = False) -> str:
    experiment = "korean_gpt2_small" if objective == "causal" else "korean_bert_small"
    tokenizer = "tiny_gpt2" if objective == "causal" else "tiny_bert"
    args = [
        f"experiment=pretrain/{experiment}",
        f"hydra.run.dir={run_dir}",
        f"data.path='{text}'",
        f"data.tokenizer={tokenizer}",
        "data.block_size=32",
        "data.batch_size=4",
        "data.val_fraction=0.2",
        "data.test_fraction=0.1",
        "trainer.max_steps=8",
        "trainer.val_check_interval=4",
        "trainer.log_every_n_steps=2",
        "callbacks.last_checkpoint.every_n_train_steps=1",
        "callbacks.rich_progress_bar=null",
        f"callbacks.save_pretrained.dirpath={run_dir}/pretrained",
        "logger=csv",
        "extras.print_config=false",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = entry_points.run("maeum.train", *args, cwd=REPO, env=env)
    assert proc.returncode == (-signal.SIGKILL if killed else 0), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.e2e
@pytest.mark.slow  # both objectives; the resume itself is the chatbot's and the classifier's by default
@pytest.mark.parametrize("objective", ["causal", "masked"])  # masked: its masks repeat by draw (see above)
def test_pretraining_resumes_bit_exact_and_its_directory_fine_tunes(
    objective: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    text = corpora.korean_text(tmp_path / "사전학습 말뭉치 (테스트).txt")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    kill = ["+callbacks.kill._target_=helpers.resume.KillAt", "+callbacks.kill.hook=on_train_batch_start"]
    with ThreadPoolExecutor(max_workers=2) as pool:  # the whole run and the killed one, side by side
        running = pool.submit(pretrain, whole, text, objective)
        pretrain(killed, text, objective, *kill, "+callbacks.kill.step=3", killed=True)
        log = running.result()
    logged = next(whole.glob("csv/version_*/metrics.csv")).read_text(encoding="utf-8")
    assert all(name in logged for name in ("val/bpc", "val/ppl", "test/bpc", "train/tokens_seen")), log
    last = killed / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 3
    pretrain(killed, text, objective, f"ckpt_path={last}")
    expected, got = (torch.load(d / "checkpoints/last.ckpt", weights_only=True) for d in (whole, killed))
    assert expected["global_step"] == got["global_step"] == 8
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(tensor, got["state_dict"][name]), name

    pretrained = whole / "pretrained"
    assert (pretrained / "config.json").is_file() and (pretrained / "model.safetensors").is_file()
    saved = json.loads((pretrained / "config.json").read_text(encoding="utf-8"))
    dropout = "resid_pdrop" if objective == "causal" else "hidden_dropout_prob"
    assert saved[dropout] == 0.1  # pretrained without dropout, fine-tuned with the architecture's
    run_dir = tmp_path_factory.mktemp("fine-tuned")
    job = ["experiment=chatbot/sample_tiny"] if objective == "causal" else []
    metrics = train(
        compose_config(
            "train",
            run_dir,
            [*job, f"backbone.name_or_path={pretrained}", "trainer.max_epochs=1", "logger=csv"],
        )
    )
    assert all(math.isfinite(v) for v in metrics.values()) and any(k.startswith("test/") for k in metrics)
