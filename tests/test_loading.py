"""maeum-export of classifiers: a directory that transformers loads and classifies with exactly like maeum."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers.configs import SHARED_DATA, compose_config
from helpers.runs import best_checkpoint
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertModel, pipeline

from maeum.backbones import load_tokenizer
from maeum.errors import MaeumError
from maeum.export import export
from maeum.inference.hf_export import to_sequence_classification
from maeum.inference.loading import Classifier, load_chatbot, load_classifier
from maeum.inference.prediction import Predictor
from maeum.models.classifier import EmotionClassifier
from maeum.train import train

TEXTS = [
    "시험에 떨어져서 너무 슬퍼요 ㅠㅠ",
    "ㅋㅋㅋㅋ 오늘 진짜 최고였어!! 😂",
    "#@이름#이 또 약속을 어겼어... 화가 나",
    "내일 면접인데 떨려서 잠이 안 와 ㅎㅎ;;",
    "ㅇㅋ",
]
KOBERT = SHARED_DATA / "kobert-tokenizer"


def pipeline_probs(directory: Path, texts: list[str]) -> list[dict[str, float]]:
    classify = pipeline("text-classification", model=str(directory), top_k=None)
    return [{row["label"]: row["score"] for row in rows} for rows in classify(texts)]


def assert_export_classifies_like_maeum(ckpt: Path, out: Path) -> None:
    """`pipeline(...)` on the export gives maeum-predict's probabilities on the checkpoint within 1e-5."""
    assert export(compose_config("export", out.parent, [f"ckpt_path={ckpt}", f"output_dir='{out}'"])) == out
    assert (out / "tokenizer.json").is_file()  # a fast tokenizer, also for KoBERT's sentencepiece model
    ours = Predictor.from_path(ckpt).predict(TEXTS)
    theirs = pipeline_probs(out, TEXTS)
    for mine, other in zip(ours, theirs, strict=True):
        assert set(other) == set(mine["probs"])
        for label, p in mine["probs"].items():
            assert other[label] == pytest.approx(p, abs=1e-5)
    assert [r["probs"] for r in Predictor.from_path(out).predict(TEXTS)] == [r["probs"] for r in ours]
    tokenizer, original = AutoTokenizer.from_pretrained(out), load_tokenizer(str(out))
    assert tokenizer(TEXTS)["input_ids"] == original(TEXTS)["input_ids"] == ours_ids(ckpt)
    assert tokenizer.model_max_length == load_classifier(ckpt).max_length  # truncation=True cuts like maeum


def ours_ids(ckpt: Path) -> list[list[int]]:
    return load_classifier(ckpt).tokenizer(TEXTS)["input_ids"]


@pytest.mark.e2e
def test_tiny_bert_classifier_export(main_run, tmp_path: Path) -> None:
    ckpt = best_checkpoint(main_run[0])
    out = tmp_path / "감정 분류기 (export)"
    assert_export_classifies_like_maeum(ckpt, out)
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.id2label == dict(enumerate(["분노", "슬픔", "불안", "상처", "당황", "기쁨"]))
    assert model.config.classifier_dropout == 0.5
    assert json.loads((out / "maeum.json").read_text(encoding="utf-8")) == {
        "kind": "classify",
        "task": "classifier",  # what maeum before run kinds reads
        "max_length": 64,
    }


@pytest.mark.e2e
@pytest.mark.skipif(not KOBERT.is_dir(), reason=f"KoBERT's tokenizer is not in {KOBERT} (../shared absent)")
def test_kobert_shaped_classifier_export(tmp_path: Path) -> None:
    """A BERT with KoBERT's own tokenizer (spiece.model, KoBERTTokenizer) exports to a fast tokenizer.json."""
    backbone = tmp_path / "kobert-shaped"
    backbone.mkdir()
    for name in ("spiece.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(KOBERT / name, backbone / name)
    config = BertConfig(vocab_size=8002, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, pad_token_id=1)  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(backbone)
    run_dir = tmp_path / "run"
    overrides = [f"backbone.name_or_path={backbone}", "trainer.max_epochs=2", "~logger"]
    train(compose_config("train", run_dir, overrides))
    out = tmp_path / "kobert-export"
    assert_export_classifies_like_maeum(best_checkpoint(run_dir), out)
    reference = [2, 4958, 6855, 2046, 7088, 1050, 7843, 54, 3]  # ../shared/data/README.md
    assert AutoTokenizer.from_pretrained(out)("한국어 모델을 공유합니다.")["input_ids"] == reference


@pytest.mark.unit
def test_an_encoder_whose_head_differs_is_not_exported(tmp_path: Path) -> None:
    """DistilBERT has no pooler and classifies through pre_classifier + ReLU: no one-to-one mapping."""
    from transformers import DistilBertConfig, DistilBertModel

    backbone = tmp_path / "distilbert"
    DistilBertModel(
        DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2, hidden_dim=64)
    ).save_pretrained(backbone)
    module = EmotionClassifier(str(backbone), labels=["기쁨", "슬픔"], optimizer={})
    classifier = Classifier(module.net, load_tokenizer("tiny_bert"), module.labels, 64, module=module)
    with pytest.raises(MaeumError, match="cannot be exported for transformers"):
        to_sequence_classification(classifier)


@pytest.mark.e2e
def test_a_chatbot_export_keeps_its_conditions(chatbot_run: Path, tmp_path: Path) -> None:
    out = export(compose_config("export", tmp_path, [f"ckpt_path={best_checkpoint(chatbot_run)}"]))
    meta = json.loads((out / "maeum.json").read_text(encoding="utf-8"))
    assert meta["task"] == "chatbot" and meta["conditions"] == sorted(
        ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
    )
    assert (
        load_chatbot(out).conditions
        == load_chatbot(best_checkpoint(chatbot_run)).conditions
        == meta["conditions"]
    )
