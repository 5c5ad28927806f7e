"""ClassificationDataModule: label vocabulary, cached tokenization, dynamic padding, majority baseline."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch

from maeum.data.classify.datamodule import ClassificationDataModule
from maeum.data.classify.readers import read_table
from maeum.errors import DataError
from maeum.paths import resource

pytestmark = pytest.mark.unit

LABELS = ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]


def datamodule(tmp_path: Path, path: Path | None = None, **kwargs: object) -> ClassificationDataModule:
    options = {"labels": LABELS, "batch_size": 8, "val_fraction": 0.15, "test_fraction": 0.15, **kwargs}
    return ClassificationDataModule(
        reader=partial(read_table),
        path=str(path or resource("emotion_sample.tsv")),
        tokenizer="tiny_bert",
        cache_dir=str(tmp_path / "cache"),
        **options,
    )


def test_sample_corpus_has_six_balanced_emotions(tmp_path: Path) -> None:
    dm = datamodule(tmp_path)
    stats = dm.corpus.stats()
    assert stats["labels"] == dict.fromkeys(LABELS, 40)
    assert stats["splits"] == {"train": 168, "val": 36, "test": 36}
    assert dm.model_kwargs() == {"labels": LABELS, "class_counts": [28] * 6}


def test_batches_are_padded_to_their_own_longest_row(tmp_path: Path) -> None:
    dm = datamodule(tmp_path, max_length=64)
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    lengths = batch["attention_mask"].sum(dim=1)
    assert batch["input_ids"].shape[1] == lengths.max() < 64
    assert torch.equal(batch["attention_mask"].bool(), batch["input_ids"] != dm.tokenizer.pad_token_id)
    assert batch["labels"].dtype == torch.long and batch["labels"].shape == (8,)


def test_tokenization_is_cached_once_and_reused(tmp_path: Path) -> None:
    dm = datamodule(tmp_path)
    dm.prepare_data()
    dm.setup("fit")
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1  # prepare_data and setup agree on the key
    stamp = files[0].stat().st_mtime_ns
    again = datamodule(tmp_path)
    again.setup("fit")
    assert files[0].stat().st_mtime_ns == stamp
    assert again.datasets["test"][0] == dm.datasets["test"][0]
    datamodule(tmp_path, max_length=16).setup("fit")  # a different setting is a different entry
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_long_texts_are_truncated_to_max_length(tmp_path: Path) -> None:
    dm = datamodule(tmp_path, max_length=8)
    dm.setup("fit")
    assert max(len(dm.datasets["train"][i]["input_ids"]) for i in range(len(dm.datasets["train"]))) == 8


def test_unknown_labels_are_listed_with_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("text\tlabel\n기뻐\t기쁨\n무서워\t공포\n싫어\t혐오\n깜짝\t공포\n", encoding="utf-8")
    with pytest.raises(DataError, match="3 rows carry labels outside") as err:
        datamodule(tmp_path, path=path).corpus  # noqa: B018
    assert "'공포' in rows 3, 5" in str(err.value) and "'혐오' in rows 4" in str(err.value)
    assert str(path) in str(err.value)


def test_labels_default_to_the_sorted_names_found(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("text\tlabel\n좋아\t긍정\n별로\t부정\n최고\t긍정\n", encoding="utf-8")
    assert datamodule(tmp_path, path=path, labels=None).labels == ["긍정", "부정"]


def test_majority_baseline(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    rows = [f"긍정 문장 {i}\t긍정" for i in range(30)] + [f"부정 문장 {i}\t부정" for i in range(10)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    dm = datamodule(tmp_path, path=path, labels=["긍정", "부정"], val_fraction=0.2, test_fraction=0.2)
    baseline = dm.majority_baseline("test")
    assert baseline["test/acc"] == pytest.approx(6 / 8)  # 6 긍정 + 2 부정 held out, always "긍정"
    assert baseline["test/f1_macro"] == pytest.approx((2 * 6 / (6 + 8)) / 2)  # F1(긍정)=6/7, F1(부정)=0


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows), encoding="utf-8")
    return path


def test_official_test_file_replaces_the_internal_test_split_without_leaks(tmp_path: Path) -> None:
    train = write_tsv(tmp_path / "train.tsv", [(f"문장 {i}", "긍정" if i % 2 else "부정") for i in range(40)])
    test = write_tsv(tmp_path / "test.tsv", [("문장  3", "긍정"), ("새 문장", "부정"), ("문장 4 ", "부정")])
    dm = datamodule(tmp_path, path=train, test_path=str(test), labels=["부정", "긍정"], val_fraction=0.25)
    stats = dm.corpus.stats()
    assert stats["dropped"] == {"train text also in a held-out split file": 2}  # 문장 3 and 문장 4
    assert stats["splits"] == {"train": 28, "val": 10, "test": 3}
    test_texts = {dm.corpus.examples[i].text for i in dm.corpus.indices["test"]}
    assert test_texts == {"문장  3", "새 문장", "문장 4"}
    assert stats["rows_read"] == 43 and stats["rows_kept"] == 41


def test_unknown_label_in_an_official_split_names_that_file(tmp_path: Path) -> None:
    train = write_tsv(tmp_path / "train.tsv", [("좋아", "긍정"), ("싫어", "부정")])
    val = write_tsv(tmp_path / "val.tsv", [("몰라", "중립")])
    with pytest.raises(DataError, match="'중립' in rows 2") as err:
        datamodule(tmp_path, path=train, val_path=str(val), labels=["부정", "긍정"]).corpus  # noqa: B018
    assert str(val) in str(err.value)


def test_a_test_reader_reads_a_test_file_of_other_columns(tmp_path: Path) -> None:
    """`test_reader` (as `val_reader`) reads the official test file its own way; `reader` reads the rest."""
    test_file = tmp_path / "시험 (test).csv"
    rows = ["문장,감정", "시험에 떨어져서 너무 슬퍼 ㅠㅠ,슬픔", "드디어 합격했어!! 😂,기쁨"]
    test_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    reader = partial(read_table, text_column="문장", label_column="감정")
    dm = datamodule(tmp_path, test_path=str(test_file), test_reader=reader)
    assert dm.corpus.stats()["splits"] == {"train": 204, "val": 36, "test": 2}
    with pytest.raises(DataError, match="no text column 'text'"):  # without it, `reader` reads the test file
        datamodule(tmp_path, test_path=str(test_file)).reads()
