"""Readers: formats, encodings, dropped-row accounting, and one clear error per kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from maeum.data.readers import read_table
from maeum.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_tsv_and_counts_dropped_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "c.tsv", "text\tlabel\n기뻐요\t기쁨\n\t슬픔\n화나\t\n  무서워  \t 불안 \n")
    result = read_table(path)
    assert [(e.text, e.label, e.row) for e in result.examples] == [
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
    assert [(e.text, e.label) for e in result.examples] == [
        ("시험에 떨어져서 슬퍼", "슬픔"),
        ("쉼표, 포함", "기쁨"),
    ]


def test_reads_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "\ufefftext,label\n좋아,기쁨\n")
    assert read_table(path).examples[0].text == "좋아"


def test_reads_xlsx_by_sheet(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Sentence": ["놀랐어", None], "Emotion": ["놀람", "중립"]}).to_excel(
            writer, sheet_name="data", index=False
        )
    result = read_table(path, text_column="Sentence", label_column="Emotion", sheet="data")
    assert [(e.text, e.label) for e in result.examples] == [("놀랐어", "놀람")]
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
