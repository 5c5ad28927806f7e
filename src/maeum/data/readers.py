"""Readers: one small function per corpus format, each returning canonical records (`ReadResult`).

A reader knows its format's columns, encodings and label names, and nothing about tokens or tasks.
Every problem with the file surfaces as one `DataError` that names the file (and the column or row) and
says what to do; rows that cannot be used are dropped and counted, never silently.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pandas as pd

from maeum.data.records import Example, ReadResult
from maeum.errors import DataError

ENCODINGS = ("utf-8-sig", "cp949")  # UTF-8 (with or without BOM), then the Korean Windows code page
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
EXCEL = {".xlsx", ".xlsm"}


def read_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    sheet: str | int = 0,
) -> ReadResult:
    """Read (text, label) rows from a CSV, TSV or xlsx file; the extension picks the format."""
    path = Path(path).expanduser().resolve()
    frame = read_frame(path, sheet=sheet)
    for role, column in (("text", text_column), ("label", label_column)):
        if column not in frame.columns:
            raise DataError(
                f"{path}: no {role} column '{column}' (the file has: {', '.join(map(str, frame.columns))}). "
                f"Set data.reader.{role}_column to the column that holds the {role}s."
            )
    texts = frame[text_column].str.strip()
    labels = frame[label_column].str.strip()
    dropped: Counter[str] = Counter()
    examples = []
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        if not text:
            dropped["empty text"] += 1
        elif not label:
            dropped["empty label"] += 1
        else:
            examples.append(Example(text=text, label=label, row=i + 2))
    if not examples:
        raise DataError(
            f"{path}: none of its {len(frame)} rows has both a text and a label ({dict(dropped)})."
        )
    return ReadResult(path=path, examples=examples, rows_read=len(frame), dropped=dropped)


def read_frame(path: Path, *, sheet: str | int = 0) -> pd.DataFrame:
    """Load a whole table as strings (empty cells are ""), with one clear error for each way it can fail."""
    if not path.is_file():
        raise DataError(f"{path}: file not found. Set data.path to an existing corpus file.")
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
    return frame


def _read_text_table(path: Path, sep: str) -> pd.DataFrame:
    encoding = _detect_encoding(path)
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


def _detect_encoding(path: Path) -> str:
    raw = path.read_bytes()
    errors = []
    for encoding in ENCODINGS:
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError as err:
            errors.append(err)
    raise DataError(
        f"{path}: the text is neither UTF-8 nor cp949/euc-kr (first bad byte at offset {errors[0].start}). "
        "Re-save the file as UTF-8."
    )


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
