"""Readers: formats, encodings, dropped-row accounting, and one clear error per kind of bad input."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from helpers import corpora as fx

from maeum.data.classify.readers import read_aihub_emotion, read_table
from maeum.errors import DataError

pytestmark = pytest.mark.unit


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_tsv_and_counts_dropped_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "c.tsv", "text\tlabel\n기뻐요\t기쁨\n\t슬픔\n화나\t\n  무서워  \t 불안 \n")
    result = read_table(path)
    assert [(e.text, e.label, e.row) for e in result.records] == [
        ("기뻐요", "기쁨", 2),
        ("무서워", "불안", 5),
    ]
    assert result.rows_read == 4
    assert result.dropped == {"empty text": 1, "empty label": 1}
    assert "read 4 rows, kept 2" in result.summary()


def test_reads_cp949_csv_with_custom_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv", '문장,감정\n시험에 떨어져서 슬퍼,슬픔\n"쉼표, 포함",기쁨\n', "cp949"
    )
    result = read_table(path, text_column="문장", label_column="감정")
    assert [(e.text, e.label) for e in result.records] == [
        ("시험에 떨어져서 슬퍼", "슬픔"),
        ("쉼표, 포함", "기쁨"),
    ]


def test_reads_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "\ufefftext,label\n좋아,기쁨\n")
    assert read_table(path).records[0].text == "좋아"


def test_reads_xlsx_by_sheet(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Sentence": ["놀랐어", None], "Emotion": ["놀람", "중립"]}).to_excel(
            writer, sheet_name="data", index=False
        )
    result = read_table(path, text_column="Sentence", label_column="Emotion", sheet="data")
    assert [(e.text, e.label) for e in result.records] == [("놀랐어", "놀람")]
    assert result.dropped == {"empty text": 1}
    with pytest.raises(DataError, match="no sheet 'Sheet9'") as err:
        read_table(path, text_column="Sentence", label_column="Emotion", sheet="Sheet9")
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("", r"the file is empty \(0 bytes\)"),
        ("text\tlabel\n", "header but no data rows"),
        ("sentence\tlabel\n안녕\t기쁨\n", "no text column 'text' .*sentence, label.*data.reader.text_column"),
        ("text\temotion\n안녕\t기쁨\n", "no label column 'label' .*text, emotion.*data.reader.label_column"),
        ("text\tlabel\n\t기쁨\n", "none of its 1 rows has both a text and a label"),
    ],
    ids=["missing-file", "empty-file", "header-only", "no-text-column", "no-label-column", "no-usable-row"],
)
def test_bad_input_gives_one_clear_error_naming_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "corpus.tsv"
    if content is not None:
        write(path, content)
    with pytest.raises(DataError, match=message) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_undecodable_bytes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(b"text,label\n\xff\xfe\xfa\xfb,x\n")
    with pytest.raises(DataError, match=r"neither UTF-8 nor cp949.*offset 11.*Re-save") as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "corpus.json", "[]")
    with pytest.raises(DataError, match=r"unknown file type '\.json'"):
        read_table(path)


# ------------------------------------------------------------------------------- the real corpora's schemas
AIHUB_MAJOR = ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
AIHUB_FIRST = [row[3][0] for row in fx.AIHUB_ROWS[:6]]


@pytest.mark.parametrize(
    "write",
    [
        fx.aihub_new_xlsx,
        partial(fx.aihub_new_xlsx, index_column=True),
        fx.aihub_old_xlsx,
        fx.aihub_json,
        fx.aihub_cp949_csv,
    ],
    ids=["new-xlsx", "new-xlsx-with-index", "old-xlsx", "json", "cp949-csv"],
)
def test_aihub_emotion_every_release(tmp_path: Path, write) -> None:
    suffix = {"aihub_json": ".json", "aihub_cp949_csv": ".csv"}.get(getattr(write, "__name__", ""), ".xlsx")
    path = write(tmp_path / f"감성대화말뭉치{suffix}")
    result = read_aihub_emotion(path)
    assert [e.label for e in result.records] == AIHUB_MAJOR
    assert [e.text for e in result.records] == AIHUB_FIRST
    assert result.rows_read == 7 and result.dropped == {"empty text": 1}

    joined = read_aihub_emotion(path, text="all_human").records
    assert joined[0].text == " ".join(fx.AIHUB_ROWS[0][3])
    assert joined[1].text == " ".join(t for t in fx.AIHUB_ROWS[1][3] if t)
    minor = [e.label for e in read_aihub_emotion(path, label="minor").records]
    expected = [row[2 if path.suffix == ".json" else 1] for row in fx.AIHUB_ROWS[:6]]
    assert minor == expected


def test_aihub_json_with_a_broken_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps([{"profile": {"emotion": {"type": "E10"}}, "talk": {"content": {}}}, {"talk": {}}])
    )
    with pytest.raises(DataError, match=r"record 2 lacks profile\.emotion\.type"):
        read_aihub_emotion(path)


@pytest.mark.parametrize(
    ("write", "reader_args", "labels"),
    [
        (fx.single_turn_xlsx, {"text_column": "Sentence", "label_column": "Emotion"}, 8),
        (
            fx.nsmc_tsv,
            {"text_column": "document", "label_column": "label", "label_names": {0: "부정", 1: "긍정"}},
            4,
        ),
        (
            fx.chatbotdata_csv,
            {
                "text_column": "Q",
                "label_column": "label",
                "label_names": {0: "일상다반사", 1: "이별(부정)", 2: "사랑(긍정)"},
            },
            4,
        ),
        (fx.wellness_xlsx, {"text_column": "유저", "label_column": "구분"}, 4),
    ],
    ids=["single_turn_emotion", "nsmc", "chatbotdata", "wellness"],
)
def test_other_corpora_through_read_table(tmp_path: Path, write, reader_args: dict, labels: int) -> None:
    suffix = {"nsmc_tsv": ".txt", "chatbotdata_csv": ".csv"}.get(write.__name__, ".xlsx")
    result = read_table(write(tmp_path / f"corpus{suffix}"), **reader_args)
    assert len(result.records) == labels
    if write is fx.nsmc_tsv:  # an empty document is dropped; quotes inside a TSV field are text
        assert result.dropped == {"empty text": 1}
        assert [e.label for e in result.records] == ["긍정", "부정", "부정", "긍정"]
        assert result.records[1].text == '"뭐야 이 평점들은.... 나쁘진 않지만'
    if write is fx.chatbotdata_csv:
        assert [e.label for e in result.records] == ["일상다반사", "이별(부정)", "이별(부정)", "사랑(긍정)"]
    if write is fx.wellness_xlsx:
        assert result.records[3].label == "증상/불면"


def test_a_file_with_the_wrong_schema_points_at_the_right_reader(tmp_path: Path) -> None:
    path = fx.single_turn_xlsx(tmp_path / "single.xlsx")
    with pytest.raises(DataError, match=r"no label column .감정_대분류. .*Sentence, Emotion") as err:
        read_aihub_emotion(path)
    assert str(path) in str(err.value)
