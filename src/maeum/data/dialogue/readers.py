"""Dialogue readers: one small function per corpus format, each returning `ReadResult[Dialogue]`.

Like the classification readers, they know columns and encodings only; templates, masks and cleaning
happen later. Rows or dialogues that cannot be used are dropped and counted by reason.

* `read_chatbotdata`: ChatbotData.csv (`Q`, `A`, `label`) → single-turn Q → A, condition = the label
  (its name, or the id as in KoGPT2-chatbot);
* `read_wellness`: 웰니스 대화 스크립트 (`구분`, `유저`, `챗봇`) → 유저 → 챗봇 with condition = 구분. An empty
  `챗봇` is filled with a reply drawn from the same category (seeded by the row, as the wellness chatbots
  do), or the row is dropped (`empty_reply="drop"`);
* `read_aihub_dialogues`: AI Hub 감성대화말뭉치 as multi-turn dialogue from both xlsx releases
  (`시스템문장N` / `시스템응답N`) and JSON (`HS0N` / `SS0N`), condition = 감정_대분류;
* `read_hg_tods`: HG-TODS music dialogues; a `"NULL"` system message ends the dialogue before that turn;
* `read_dialogue_jsonl`: the user's own dialogues, one `{"turns": [...], "condition": ...}` per line;
* `read_xpersona_ko`: XPersona's Korean persona chats in the same JSON lines, each with its `"split"`
  (`valid` or `test`); `split=` selects one; no condition (the persona sentences are not read).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from maeum.data.dialogue.records import Dialogue, Turn
from maeum.data.files import (
    aihub_json_records,
    decode_text,
    load_json,
    read_frame,
    require_columns,
    require_file,
)
from maeum.data.records import ReadResult
from maeum.errors import DataError

CHATBOTDATA_LABELS = {"0": "일상다반사", "1": "이별(부정)", "2": "사랑(긍정)"}


def read_chatbotdata(path: str | Path, *, condition: str = "name") -> ReadResult[Dialogue]:
    """ChatbotData: Q → A, conditioned on the label's name (`condition="name"`) or id (`"id"`)."""
    if condition not in ("name", "id"):
        raise DataError(f"data.reader.condition must be name or id, not '{condition}'")
    path = Path(path).expanduser().resolve()
    frame = read_frame(path)
    require_columns(path, frame, {"question": "Q", "answer": "A", "label": "label"})
    labels = frame["label"].str.strip()
    if condition == "name":
        labels = labels.map(lambda x: CHATBOTDATA_LABELS.get(x, x))
    pairs = zip(frame["Q"].str.strip(), frame["A"].str.strip(), labels, strict=True)
    result = _collect(path, [([(q, a)], label) for q, a, label in pairs])
    if condition == "id":
        result.label_names.update(CHATBOTDATA_LABELS)
    return result


def read_wellness(path: str | Path, *, empty_reply: str = "sample", seed: int = 0) -> ReadResult[Dialogue]:
    """Wellness script: 유저 → 챗봇, condition 구분; an empty reply is drawn from its category or dropped."""
    if empty_reply not in ("sample", "drop"):
        raise DataError(f"data.reader.empty_reply must be sample or drop, not '{empty_reply}'")
    path = Path(path).expanduser().resolve()
    frame = read_frame(path)
    require_columns(path, frame, {"category": "구분", "user": "유저", "reply": "챗봇"})
    columns = (frame[c].str.strip() for c in ("구분", "유저", "챗봇"))
    rows = list(zip(*columns, strict=True))
    replies: dict[str, list[str]] = defaultdict(list)
    for category, _, reply in rows:
        if reply:
            replies[category].append(reply)
    filled = 0
    items = []
    for i, (category, user, reply) in enumerate(rows):
        if not reply and user and empty_reply == "sample" and replies[category]:
            reply = random.Random(f"{seed}:{i}").choice(replies[category])
            filled += 1
        items.append(([(user, reply)], category))
    result = _collect(path, items, rows_read=len(rows))
    if filled:
        result.changed["empty reply filled from its category"] = filled
    return result


def read_aihub_dialogues(path: str | Path) -> ReadResult[Dialogue]:
    """감성대화말뭉치 as multi-turn dialogue (xlsx either release, JSON); condition = 감정_대분류."""
    path = Path(path).expanduser().resolve()
    if path.suffix.lower() == ".json":
        items = []
        records = aihub_json_records(path)
        for code, major, content in records:
            numbers = sorted({int(k[2:]) for k in content if re.fullmatch(r"[HS]S\d+", k)})
            turns = [(content.get(f"HS{n:02d}") or "", content.get(f"SS{n:02d}") or "") for n in numbers]
            items.append((turns, major or code))
        return _collect(path, items, rows_read=len(records))
    frame = read_frame(path)
    require_columns(path, frame, {"condition": "감정_대분류", "text": "사람문장1"})
    system = "시스템문장" if "시스템문장1" in frame.columns else "시스템응답"
    numbers = sorted(int(c[4:]) for c in frame.columns if re.fullmatch(r"사람문장\d+", c))
    items = []
    for values in frame.to_dict("records"):
        turns = [(values.get(f"사람문장{n}", ""), values.get(f"{system}{n}", "")) for n in numbers]
        items.append((turns, str(values["감정_대분류"]).strip()))
    return _collect(path, items, rows_read=len(frame))


def read_hg_tods(path: str | Path) -> ReadResult[Dialogue]:
    """HG-TODS: user/system pairs per dialogue; a "NULL" system message ends the dialogue before it."""
    path = Path(path).expanduser().resolve()
    records = load_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of dialogues, found a {type(records).__name__}.")
    items = []
    for i, record in enumerate(records, start=1):
        if not isinstance(record, dict) or not isinstance(record.get("turns"), list):
            raise DataError(f"{path}: dialogue {i} has no list of turns.")
        turns = sorted(record["turns"], key=lambda t: t.get("turn_num", 0))
        items.append(([(t.get("user_message") or "", t.get("system_message") or "") for t in turns], None))
    return _collect(path, items, rows_read=len(records), null_ends=True)


def read_dialogue_jsonl(path: str | Path) -> ReadResult[Dialogue]:
    """One `{"turns": [{"speaker": "usr"|"sys", "text": ...}, ...], "condition": ...}` per line."""
    path = Path(path).expanduser().resolve()
    lines = _jsonl_dialogues(path)
    return _collect_jsonl(path, [(record.get("condition"), turns) for _, record, turns in lines])


XPERSONA_SPLITS = ("valid", "test")


def read_xpersona_ko(path: str | Path, *, split: str | None = None) -> ReadResult[Dialogue]:
    """XPersona Korean: `{"turns": [...], "persona": [...], "split": "valid"|"test"}` per line; the
    dialogues of `split` (every line's when `None`), with no condition."""
    if split not in (*XPERSONA_SPLITS, None):
        raise DataError(f"data.reader.split (test_reader.split) must be valid, test or null, not '{split}'")
    path = Path(path).expanduser().resolve()
    selected = []
    for line_no, record, turns in _jsonl_dialogues(path):
        if record.get("split") not in XPERSONA_SPLITS:
            raise DataError(
                f"{path}: line {line_no}: split must be 'valid' or 'test', not {record.get('split')!r}."
            )
        if split in (None, record["split"]):
            selected.append((None, turns))
    if not selected:
        raise DataError(f"{path}: no dialogue has split '{split}'.")
    return _collect_jsonl(path, selected)


def _jsonl_dialogues(path: Path) -> list[tuple[int, dict, list[Turn]]]:
    """(line number, record, turns) of every non-blank line; one `DataError` naming the file and line for a
    line that is not a JSON dialogue or has a speaker other than `usr` or `sys`."""
    require_file(path)
    lines = []
    for line_no, line in enumerate(decode_text(path)[0].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            turns = [Turn(t["speaker"], str(t["text"]).strip()) for t in record["turns"]]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{path}: line {line_no} is not a dialogue ({err!r}).") from err
        if any(t.speaker not in ("usr", "sys") for t in turns):
            raise DataError(f"{path}: line {line_no}: speakers must be 'usr' or 'sys'.")
        lines.append((line_no, record, turns))
    if not lines:
        raise DataError(f"{path}: the file has no dialogues.")
    return lines


def _collect_jsonl(path: Path, dialogues: Sequence[tuple[str | None, list[Turn]]]) -> ReadResult[Dialogue]:
    """`_collect` of (condition, turns) dialogues; one whose turns do not alternate usr/sys from a usr turn
    to a sys turn is dropped and counted."""
    items = []
    dropped = Counter()
    for condition, turns in dialogues:
        if not turns or [t.speaker for t in turns] != ["usr", "sys"] * (len(turns) // 2) or len(turns) % 2:
            dropped["turns do not alternate usr/sys ending with sys"] += 1
            continue
        pairs = [(u.text, s.text) for u, s in zip(turns[::2], turns[1::2], strict=True)]
        items.append((pairs, condition))
    if not items:
        n = len(dialogues)
        raise DataError(f"{path}: none of its {n} dialogues alternates usr/sys ({dict(dropped)}).")
    result = _collect(path, items, rows_read=len(dialogues))
    result.dropped.update(dropped)
    return result


def _collect(
    path: Path,
    items: Iterable[tuple[Sequence[tuple[str, str]], str | None]],
    *,
    rows_read: int | None = None,
    null_ends: bool = False,
) -> ReadResult[Dialogue]:
    """Dialogues from (user, system) pairs: a pair with an empty side (or a "NULL" reply) ends the
    dialogue there; a dialogue with no complete pair is dropped."""
    dialogues = []
    dropped = Counter()
    n = 0
    for pairs, condition in items:
        n += 1
        turns = []
        for user, reply in pairs:
            user = str(user).strip()
            reply = str(reply).strip()
            if not user or not reply or (null_ends and reply == "NULL"):
                break
            turns += [Turn("usr", user), Turn("sys", reply)]
        if not turns:
            dropped["no complete user/system exchange"] += 1
            continue
        condition = str(condition).strip() if condition not in (None, "") else None
        dialogues.append(Dialogue(turns, condition=condition))
    if not dialogues:
        raise DataError(
            f"{path}: none of its {n} rows has a complete user/system exchange ({dict(dropped)})."
        )
    return ReadResult(path=path, records=dialogues, rows_read=rows_read or n, dropped=dropped)
