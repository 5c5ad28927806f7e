"""Offline backbones: KoBERT/KoGPT2 special ids, deterministic builds, loading, unreachable hub ids."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import huggingface_hub
import pandas as pd
import pytest
import torch
from helpers import corpora as fx
from helpers.configs import SHARED_DATA

from maeum import backbones
from maeum.backbones import (
    KOBERT_SPECIAL_TOKENS,
    KOGPT2_SPECIAL_TOKENS,
    KOREAN_ALPHABET,
    build_tiny,
    load_model,
    load_tokenizer,
)
from maeum.errors import BackboneError

TEXT = "오늘 친구가 내 생일을 잊어버려서 너무 서운했어."


@pytest.mark.unit
def test_tiny_bert_is_saved_in_kobert_format() -> None:
    directory = build_tiny("tiny_bert")
    assert (directory / "spiece.model").is_file()
    assert (
        json.loads((directory / "tokenizer_config.json").read_text())["tokenizer_class"] == "KoBERTTokenizer"
    )


@pytest.mark.unit
def test_tiny_bert_keeps_kobert_special_ids() -> None:
    tok = load_tokenizer("tiny_bert")
    assert [tok.convert_tokens_to_ids(t) for t in KOBERT_SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert (tok.unk_token_id, tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    batch = tok([TEXT, "기뻐"], padding=True)
    ids, short = batch["input_ids"]
    assert batch["token_type_ids"] == [[0] * len(ids)] * 2
    assert ids[0] == 2 and ids[-1] == 3 and 0 not in ids  # [CLS] pieces [SEP], every piece known
    assert short[:3] != [2, 3] and short[-1] == 1 and tok.padding_side == "right"  # padded with [PAD]
    assert batch["attention_mask"][1] == [int(i != 1) for i in short]
    assert tok.decode(ids, skip_special_tokens=True) == TEXT


@pytest.mark.unit
def test_tiny_gpt2_keeps_kogpt2_special_ids() -> None:
    tok = load_tokenizer("tiny_gpt2")
    assert [tok.convert_tokens_to_ids(t) for t in KOGPT2_SPECIAL_TOKENS] == list(range(109))
    named = {
        t: tok.convert_tokens_to_ids(t) for t in ("<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>")
    }
    assert named == {"<s>": 0, "</s>": 1, "<usr>": 2, "<pad>": 3, "<sys>": 4, "<unk>": 5, "<mask>": 6}
    assert tok.convert_tokens_to_ids("<unused0>") == 9 and tok.convert_tokens_to_ids("<unused99>") == 108
    assert tok.bos_token == tok.eos_token == "</s>" and tok.pad_token_id == 3
    pieces = tok.tokenize(TEXT)
    assert pieces[0].startswith("▁") and all("ì" not in p for p in pieces)  # Metaspace, not byte-level
    assert tok.decode(tok(TEXT)["input_ids"]) == TEXT  # no bos/eos added, lossless round trip


@pytest.mark.unit
@pytest.mark.parametrize("name", ["tiny_bert", "tiny_gpt2"])
def test_tiny_backbones_know_the_common_korean_alphabet(name: str) -> None:
    """Every printable ASCII character, compatibility jamo and KS X 1001 syllable is a known piece."""
    tok = load_tokenizer(name)
    rows = tok(list(KOREAN_ALPHABET), add_special_tokens=False)["input_ids"]
    unknown = [c for c, ids in zip(KOREAN_ALPHABET, rows, strict=True) if tok.unk_token_id in ids or not ids]
    assert not unknown, f"{len(unknown)} characters map to {tok.unk_token}: {''.join(unknown[:40])}"


def unk_share(name: str, texts: list[str]) -> float:
    tok = load_tokenizer(name)
    rows = tok(texts, add_special_tokens=False)["input_ids"]
    return sum(ids.count(tok.unk_token_id) for ids in rows) / sum(map(len, rows))


@pytest.mark.unit
def test_tiny_bert_unk_share_on_korean_fixtures(tmp_path: Path) -> None:
    """Reviews (NSMC's bound, 1.0%) and chatbot questions (ChatbotData's, 0.5%), written in their style."""
    from maeum.data.classify.readers import read_table

    reviews = [e.text for e in read_table(fx.nsmc_tsv(tmp_path / "nsmc.txt"), text_column="document").records]
    questions = [e.text for e in read_table(fx.chatbotdata_csv(tmp_path / "q.csv"), text_column="Q").records]
    assert unk_share("tiny_bert", reviews + fx.REVIEW_STYLE) <= 0.010
    assert unk_share("tiny_bert", questions + fx.CHAT_STYLE) <= 0.005


@pytest.mark.unit
@pytest.mark.skipif(
    not (SHARED_DATA / "nsmc").is_dir(), reason="../shared/data (NSMC, ChatbotData) is absent"
)
def test_tiny_bert_unk_share_on_real_corpora() -> None:
    nsmc = SHARED_DATA / "nsmc" / "ratings_test.txt"
    reviews = pd.read_csv(nsmc, sep="\t", quoting=3, dtype=str, keep_default_na=False)["document"][:5000]
    questions = pd.read_csv(SHARED_DATA / "chatbotdata" / "ChatbotData.csv", dtype=str)["Q"]
    assert unk_share("tiny_bert", [t for t in reviews if t]) <= 0.010  # first 5,000 reviews
    assert unk_share("tiny_bert", list(questions)) <= 0.005


@pytest.mark.unit
@pytest.mark.parametrize("name", ["tiny_bert", "tiny_gpt2"])
def test_tiny_build_is_deterministic(name: str, tmp_path: Path) -> None:
    first, second = build_tiny(name, tmp_path / "a"), build_tiny(name, tmp_path / "b")
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir()) and "model.safetensors" in files
    for filename in files:
        assert (first / filename).read_bytes() == (second / filename).read_bytes(), filename
    assert load_tokenizer(str(first))(TEXT)["input_ids"] == load_tokenizer(str(second))(TEXT)["input_ids"]
    assert build_tiny(name, tmp_path / "a") == first  # built once, then reused


@pytest.mark.unit
def test_tiny_build_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny("tiny_bert", tmp_path)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.unit
def test_a_local_directory_loads_like_the_name() -> None:
    directory = str(build_tiny("tiny_gpt2"))
    assert load_tokenizer(directory)(TEXT)["input_ids"] == load_tokenizer("tiny_gpt2")(TEXT)["input_ids"]
    trained, fresh = (
        load_model(directory, causal_lm=True),
        load_model("tiny_gpt2", causal_lm=True, pretrained=False),
    )
    assert type(trained).__name__ == "GPT2LMHeadModel"
    assert trained.config.vocab_size == len(load_tokenizer("tiny_gpt2"))
    assert torch.equal(trained.lm_head.weight, load_model("tiny_gpt2", causal_lm=True).lm_head.weight)
    assert not torch.equal(trained.transformer.h[0].mlp.c_fc.weight, fresh.transformer.h[0].mlp.c_fc.weight)


@pytest.mark.unit
def test_a_missing_local_directory_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(BackboneError, match="backbone directory not found") as err:
        load_model(str(missing))
    assert str(missing) in str(err.value)


@pytest.mark.e2e
def test_unreachable_hub_fails_at_once_with_one_message(tmp_path: Path) -> None:
    """`backbone=kobert` with no network: one message naming the id, in seconds, no stack trace."""
    env = {
        **os.environ,
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens there: the hub is unreachable
        "HF_HOME": str(tmp_path / "hf"),  # and nothing is cached
    }
    cmd = [sys.executable, "-m", "maeum.train", "backbone=kobert", "logger=csv", f"paths.root_dir={tmp_path}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    # from the run's first log line (its imports done: they share the cores with the suite's background
    # runs) to its error: the hub is given up at once, not after retries
    stamps = [datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f") for line in output.splitlines()
              if line.startswith("[20")]  # fmt: skip
    assert len(stamps) >= 2 and (stamps[-1] - stamps[0]).total_seconds() < 10, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "skt/kobert-base-v1" in errors[0] and "backbone.name_or_path=" in errors[0]


@pytest.mark.unit
def test_hub_probe_is_not_used_for_tiny_or_local(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr(huggingface_hub, "model_info", fail)
    assert backbones.resolve("tiny_bert")[1] is True
    assert backbones.resolve(str(build_tiny("tiny_bert"))) == (str(build_tiny("tiny_bert")), True)


KOBERT_DIR = SHARED_DATA / "kobert-tokenizer"
needs_kobert = pytest.mark.skipif(
    not (KOBERT_DIR / "spiece.model").is_file(), reason=f"the real KoBERT tokenizer is not at {KOBERT_DIR}"
)


@pytest.mark.unit
@needs_kobert
def test_real_kobert_tokenizer_gives_kobert_ids() -> None:
    tok = load_tokenizer(str(KOBERT_DIR))
    assert tok.is_fast and len(tok) == 8002
    batch = tok(["한국어 모델을 공유합니다.", "한국어"], padding=True)
    assert batch["input_ids"][0] == [2, 4958, 6855, 2046, 7088, 1050, 7843, 54, 3]
    assert batch["input_ids"][1] == [2, 4958, 6855, 3, 1, 1, 1, 1, 1]  # [SEP] then right padding with [PAD]
    assert batch["token_type_ids"] == [[0] * 9] * 2
    assert batch["attention_mask"][1] == [1, 1, 1, 1, 0, 0, 0, 0, 0]


@pytest.mark.unit
@needs_kobert
def test_real_kobert_fast_tokenizer_agrees_with_sentencepiece() -> None:
    """The fast path against sentencepiece itself, on 2,000 real NSMC reviews."""
    import sentencepiece

    reviews = (SHARED_DATA / "nsmc" / "ratings_test.txt").read_text(encoding="utf-8").splitlines()[1:2001]
    texts = [line.split("\t")[1] for line in reviews]
    sp = sentencepiece.SentencePieceProcessor(model_file=str(KOBERT_DIR / "spiece.model"))
    fast = load_tokenizer(str(KOBERT_DIR))(texts, add_special_tokens=False)["input_ids"]
    agree = sum(a == b for a, b in zip(sp.encode(texts), fast, strict=True)) / len(texts)
    assert agree >= 0.99  # the rest: ties on runs of dots, and unknown characters


@pytest.mark.unit
def test_a_kogpt2_directory_resaved_as_gpt2tokenizer_keeps_its_metaspace_pieces(tmp_path: Path) -> None:
    """transformers 5 rebuilds a byte-level BPE for `GPT2Tokenizer`; maeum loads tokenizer.json as written."""
    from transformers import AutoTokenizer

    directory = tmp_path / "kogpt2-resaved"
    shutil.copytree(build_tiny("tiny_gpt2"), directory)
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.update(tokenizer_class="GPT2Tokenizer", bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    naive = AutoTokenizer.from_pretrained(directory)
    assert naive.tokenize(TEXT) != load_tokenizer("tiny_gpt2").tokenize(TEXT)  # what maeum must not return
    tok = load_tokenizer(str(directory))
    assert tok.tokenize(TEXT) == load_tokenizer("tiny_gpt2").tokenize(TEXT)
    assert tok.bos_token == tok.eos_token == "</s>"  # <|endoftext|> is not in the vocabulary: KoGPT2's roles
    assert (tok.pad_token, tok.unk_token) == ("<pad>", "<unk>")


@pytest.mark.unit
def test_a_byte_level_tokenizer_over_a_metaspace_vocabulary_is_refused(tmp_path: Path) -> None:
    """Without tokenizer.json, GPT2Tokenizer reads KoGPT2's vocab.json + merges.txt byte-level: refused."""
    directory = tmp_path / "kogpt2-vocab-only"
    shutil.copytree(build_tiny("tiny_gpt2"), directory)
    load_tokenizer(str(directory)).backend_tokenizer.model.save(str(directory))  # vocab.json, merges.txt
    (directory / "tokenizer.json").unlink()
    config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    (directory / "tokenizer_config.json").write_text(
        json.dumps({**config, "tokenizer_class": "GPT2Tokenizer"}), encoding="utf-8"
    )
    with pytest.raises(BackboneError, match="byte-level tokenizer over a sentencepiece"):
        load_tokenizer(str(directory))


@pytest.mark.unit
def test_byte_level_vocabularies_are_not_refused(tmp_path: Path) -> None:
    """A genuinely byte-level tokenizer (no Hangul pieces in its vocabulary) is left alone."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator([TEXT] * 10, trainer)
    PreTrainedTokenizerFast(tokenizer_object=backend).save_pretrained(tmp_path / "bytes")
    tok = load_tokenizer(str(tmp_path / "bytes"))
    assert tok.decode(tok(TEXT)["input_ids"]) == TEXT
