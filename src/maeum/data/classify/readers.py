"""Classification readers: one small function per corpus format, each returning canonical records
(`ReadResult[Example]`).

A reader knows its format's columns, encodings and label names, and nothing about tokens or tasks.
Every problem with the file surfaces as one `DataError` that names the file (and the column or row) and
says what to do; rows that cannot be used are dropped and counted, never silently.

Most corpora need no code of their own, only `read_table` with their columns and label names in
`conf/data/classify/<corpus>.yaml` (NSMC, ChatbotData, 한국어 단발성 대화, the wellness script, any CSV).
The AI Hub 감성대화말뭉치 has several releases with different layouts and gets `read_aihub_emotion`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from maeum.data.files import aihub_json_records, read_frame, require_columns
from maeum.data.records import Example, ReadResult
from maeum.errors import DataError


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

    Args:
        text_column: the column of the texts.
        label_column: the column of the labels.
        sheet: an Excel file's sheet (name or index).
        label_names: renames raw label values (e.g. NSMC's `{0: 부정, 1: 긍정}`); others are kept as they are.
        response_column: also read each row's response (the wellness script's 챗봇), which may be empty.
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


def _read_aihub_json(path: Path, *, label: str, text: str) -> ReadResult[Example]:
    records = aihub_json_records(path)
    texts = []
    labels = []
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
    texts = list(texts)
    labels = list(labels)
    rows = list(rows)
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
