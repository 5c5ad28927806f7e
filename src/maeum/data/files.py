"""Corpus files read the way Korean users save them: UTF-8 or cp949 text, CSV/TSV or Excel tables, and
AI Hub's JSON. Every problem surfaces as one `DataError` that names the file (and the column or row) and
says what to do. Readers of both tasks (`maeum.data.classify.readers`, `maeum.data.dialogue.readers`)
build on these.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from maeum.errors import DataError

ENCODINGS = ("utf-8-sig", "cp949")  # UTF-8 (with or without BOM), then the Korean Windows code page
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
EXCEL = {".xlsx", ".xlsm"}
# AI Hub 감성대화말뭉치: the tens digit of an emotion code (E10..E69) is its major emotion.
AIHUB_MAJOR_EMOTIONS = {"1": "분노", "2": "슬픔", "3": "불안", "4": "상처", "5": "당황", "6": "기쁨"}


def require_file(path: Path) -> None:
    """One `DataError` when the corpus file `path` does not exist."""
    if not path.is_file():
        raise DataError(
            f"{path}: file not found. Set data.path to an existing corpus file (configs that name a "
            "shipped corpus look under paths.data_dir: set it, or use local=example)."
        )


def read_frame(path: Path, *, sheet: str | int = 0) -> pd.DataFrame:
    """Load a whole table as strings (empty cells are ""), with one clear error for each way it can fail."""
    require_file(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes).")
    suffix = path.suffix.lower()
    if suffix in EXCEL:
        frame = _read_excel(path, sheet)
    elif suffix in SEPARATORS:
        frame = _read_text_table(path, SEPARATORS[suffix])
    else:
        raise DataError(
            f"{path}: unknown file type '{suffix}'. Use .csv, .tsv/.txt (tab-separated) or .xlsx."
        )
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows.")
    frame.columns = [str(c).strip() for c in frame.columns]
    # some exports carry the spreadsheet's index as a first, unnamed column
    return frame.drop(columns=[c for c in frame.columns if re.fullmatch(r"Unnamed: \d+", c)])


# ------------------------------------------------------------------------------------------------ internals
def aihub_json_records(path: Path) -> list[tuple[str, str | None, dict[str, str]]]:
    """(emotion code, its major emotion or None, talk.content) of every record of the AI Hub JSON release."""
    records = load_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of dialogues, found a {type(records).__name__}.")
    out = []
    for i, record in enumerate(records, start=1):
        try:
            code = str(record["profile"]["emotion"]["type"]).strip()
            content = record["talk"]["content"]
        except (KeyError, TypeError) as err:
            problem = f"{type(err).__name__}: {err}"
            raise DataError(
                f"{path}: record {i} lacks profile.emotion.type or talk.content ({problem})."
            ) from err
        major = AIHUB_MAJOR_EMOTIONS.get(code[1:2]) if re.fullmatch(r"E\d\d", code) else None
        out.append((code, major, content))
    return out


def require_columns(path: Path, frame: pd.DataFrame, columns: Mapping[str, str]) -> None:
    for role, column in columns.items():
        if column not in frame.columns:
            raise DataError(
                f"{path}: no {role} column '{column}' (the file has: {', '.join(map(str, frame.columns))}). "
                f"Set data.reader.{role}_column to the column that holds the {role}s, or use the reader "
                "that matches this corpus."
            )


def _read_text_table(path: Path, sep: str) -> pd.DataFrame:
    encoding = detect_encoding(path)
    # Tab-separated corpora (NSMC, ...) use bare quotes inside texts, so quotes only delimit in CSV.
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    try:
        return pd.read_csv(
            path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False, quoting=quoting
        )
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path}: the file has no header row and no data.") from err
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: cannot be parsed as '{sep}'-separated text: {err}") from err


def detect_encoding(path: Path) -> str:
    return decode_text(path)[1]


def decode_text(path: Path) -> tuple[str, str]:
    """A text file's text and encoding (UTF-8 with or without BOM, else cp949/euc-kr), from one read."""
    raw = path.read_bytes()
    errors = []
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as err:
            errors.append(err)
    raise DataError(
        f"{path}: the text is neither UTF-8 nor cp949/euc-kr (first bad byte at offset {errors[0].start}). "
        "Re-save the file as UTF-8."
    )


def load_json(path: Path) -> object:
    require_file(path)
    try:
        return json.loads(decode_text(path)[0])
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})."
        ) from err


def _read_excel(path: Path, sheet: str | int) -> pd.DataFrame:
    try:
        sheets = pd.ExcelFile(path, engine="openpyxl")
    except Exception as err:  # zipfile.BadZipFile, KeyError, ... from a damaged or mislabelled file
        raise DataError(
            f"{path}: cannot be opened as an xlsx workbook ({type(err).__name__}: {err})."
        ) from err
    with sheets:
        if isinstance(sheet, str) and sheet not in sheets.sheet_names:
            raise DataError(f"{path}: no sheet '{sheet}' (sheets: {', '.join(sheets.sheet_names)}).")
        if isinstance(sheet, int) and not 0 <= sheet < len(sheets.sheet_names):
            raise DataError(f"{path}: no sheet number {sheet} (it has {len(sheets.sheet_names)}).")
        frame = pd.read_excel(sheets, sheet_name=sheet, dtype=str, keep_default_na=False)
    return frame.fillna("")
