"""Readers: one small function per corpus format, each returning canonical records (`ReadResult`).

A reader knows its format's columns, encodings and label names, and nothing about tokens or tasks.
Every problem with the file surfaces as one `DataError` that names the file (and the column or row) and
says what to do; rows that cannot be used are dropped and counted, never silently.

Most corpora need no code of their own, only `read_table` with their columns and label names in
`conf/data/classify/<corpus>.yaml` (NSMC, ChatbotData, 한국어 단발성 대화, the wellness script, any CSV).
The AI Hub 감성대화말뭉치 has several releases with different layouts and gets `read_aihub_emotion`.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from maeum.data.records import Example, ReadResult
from maeum.errors import DataError

ENCODINGS = ("utf-8-sig", "cp949")  # UTF-8 (with or without BOM), then the Korean Windows code page
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
EXCEL = {".xlsx", ".xlsm"}
# AI Hub 감성대화말뭉치: the tens digit of an emotion code (E10..E69) is its major emotion.
AIHUB_MAJOR_EMOTIONS = {"1": "분노", "2": "슬픔", "3": "불안", "4": "상처", "5": "당황", "6": "기쁨"}


def read_table(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    sheet: str | int = 0,
    label_names: Mapping[str, str] | None = None,
    response_column: str | None = None,
) -> ReadResult[Example]:
    """Read (text, label) rows from a CSV, TSV or xlsx file; the extension picks the format.

    `label_names` renames raw label values (e.g. NSMC's `{0: 부정, 1: 긍정}`); others are kept as they are.
    `response_column` also reads each row's response (the wellness script's 챗봇), which may be empty.
    """
    path = Path(path).expanduser().resolve()
    frame = read_frame(path, sheet=sheet)
    columns = {"text": text_column, "label": label_column}
    require_columns(path, frame, columns | ({"response": response_column} if response_column else {}))
    names = {str(k): v for k, v in (label_names or {}).items()}
    labels = [names.get(label, label) for label in frame[label_column].str.strip()]
    responses = frame[response_column].str.strip() if response_column else None
    texts = frame[text_column].str.strip()
    return _examples(path, texts, labels, rows=range(2, len(frame) + 2), responses=responses)


def read_aihub_emotion(
    path: str | Path, *, label: str = "major", text: str = "first", sheet: str | int = 0
) -> ReadResult[Example]:
    """AI Hub 감성대화말뭉치 in any of its releases: xlsx (both column layouts), JSON, or CSV exports.

    Args:
        label: "major" for the 6 major emotions (감정_대분류), "minor" for 감정_소분류 (the JSON release
            carries only the emotion code, e.g. "E18", which then is the label).
        text: "first" for 사람문장1 (HS01), "all_human" for every human sentence joined by spaces.
    """
    if label not in ("major", "minor") or text not in ("first", "all_human"):
        raise DataError(
            f"data.reader: label must be major|minor and text first|all_human, not {label}|{text}"
        )
    path = Path(path).expanduser().resolve()
    if path.suffix.lower() == ".json":
        return _read_aihub_json(path, label=label, text=text)
    frame = read_frame(path, sheet=sheet)
    label_column = "감정_대분류" if label == "major" else "감정_소분류"
    require_columns(path, frame, {"label": label_column, "text": "사람문장1"})
    human = sorted((c for c in frame.columns if re.fullmatch(r"사람문장\d+", c)), key=lambda c: int(c[4:]))
    columns = human if text == "all_human" else ["사람문장1"]
    texts = [" ".join(t.strip() for t in row if t.strip()) for row in frame[columns].itertuples(index=False)]
    return _examples(path, texts, frame[label_column].str.strip(), rows=range(2, len(frame) + 2))


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


def _read_aihub_json(path: Path, *, label: str, text: str) -> ReadResult[Example]:
    records = aihub_json_records(path)
    texts, labels = [], []
    for code, major, content in records:
        keys = sorted(k for k in content if re.fullmatch(r"HS\d+", k)) if text == "all_human" else ["HS01"]
        texts.append(" ".join(str(content.get(k) or "").strip() for k in keys).strip())
        labels.append((major or code) if label == "major" else code)
    return _examples(path, texts, labels, rows=range(1, len(records) + 1))


def _examples(
    path: Path,
    texts: Iterable[str],
    labels: Iterable[str],
    rows: Iterable[int],
    responses: Iterable[str] | None = None,
) -> ReadResult[Example]:
    """Keep rows with both a text and a label; count the others by reason."""
    dropped: Counter[str] = Counter()
    examples = []
    n = 0
    texts, labels, rows = list(texts), list(labels), list(rows)
    responses = list(responses) if responses is not None else [""] * len(texts)
    for text, label, row, response in zip(texts, labels, rows, responses, strict=True):
        n += 1
        if not text:
            dropped["empty text"] += 1
        elif not label:
            dropped["empty label"] += 1
        else:
            examples.append(Example(text=text, label=label, row=row, response=response))
    if not examples:
        raise DataError(f"{path}: none of its {n} rows has both a text and a label ({dict(dropped)}).")
    return ReadResult(path=path, records=examples, rows_read=n, dropped=dropped)


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
    if not path.is_file():
        raise DataError(f"{path}: file not found. Set data.path to an existing corpus file.")
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
