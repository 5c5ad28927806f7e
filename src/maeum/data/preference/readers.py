"""Preference readers: preference files as users bring them from TRL and the hub, read into
`PreferenceDialogue` records.

`read_preferences` reads JSON lines (`.jsonl`; `.json` holds JSON lines or one JSON list of records), CSV,
TSV and xlsx files in TRL's two preference formats, detected per file from its first row with a prompt:

* standard (plain text): `prompt`, `chosen` and `rejected` strings, and an optional `condition` (an
  emotion, say) → turns `[usr prompt, sys chosen]`, that condition, `rejected`;
* conversational: `prompt` is a list of `{"role": ..., "content": ...}` messages (an optional leading
  `system` message, then `user` and `assistant` alternating from `user` and ending on `user`, which the
  replies answer); `chosen` and `rejected` are each a list of exactly one `assistant` message (a single
  message object or a bare string is accepted too). `user` → `usr`, `assistant` → `sys`, and the system
  message's content becomes the condition. In the chat-template layout the condition goes into the system
  prompt through `data.template.system_prompt`, so `system_prompt='{condition}'` passes it on verbatim;
  a `condition` column, where the file has one, must agree with the system message;
* implicit prompt: no `prompt` column; `chosen` and `rejected` are whole conversations that differ only in
  their last message, an assistant message; the prompt is the messages they share before it.

In a table, a cell that starts with `[` or `{` is read as JSON; one that does not parse stays plain text
(`[광고] ...`) unless it has a `"role"` or `"content"` key, which makes it a JSON error. Texts are kept as
they are (emoticons, ㅋㅋ, ㅠㅠ, `#@이름#`) but for `strip()`. Rows are named as the other readers name
them: a table's by spreadsheet row (the header is row 1), JSON lines by line, a JSON list's by record.

One `DataError` names the file, and the row and field, for a missing column, a malformed message list,
a JSON cell that does not parse or a file that mixes the formats. Rows with nothing to learn from (an
empty text, a rejected reply equal to the chosen one) are dropped and counted by reason (`DROP_REASONS`;
an empty list counts as an empty text).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from maeum.data.dialogue.records import Turn
from maeum.data.files import EXCEL, SEPARATORS, decode_text, load_json, read_frame, require_file
from maeum.data.preference.records import PreferenceDialogue
from maeum.data.records import ReadResult
from maeum.errors import DataError

PROMPT, CHOSEN, REJECTED, CONDITION = "prompt", "chosen", "rejected", "condition"
SPEAKERS = {"user": "usr", "assistant": "sys"}
JSON_SUFFIXES = {".jsonl", ".json"}
DROP_REASONS = (
    "empty prompt",
    "empty message in the prompt",
    "empty chosen reply",
    "empty rejected reply",
    "rejected reply equals the chosen one",
)
_FORMATS = (
    "A preference file has the columns prompt, chosen and rejected (TRL's standard or conversational "
    "format; condition is optional), or chosen and rejected alone as whole conversations (the "
    "implicit-prompt form)."
)

Value = str | list  # a field's text, or its list of messages
Message = tuple[str, str]  # (role, stripped content)


def read_preferences(path: str | Path) -> ReadResult[PreferenceDialogue]:
    """Preference pairs from a JSON lines, CSV/TSV or xlsx file in either TRL format (see the module
    docstring); rows with nothing to learn from are dropped and counted by reason."""
    path = Path(path).expanduser().resolve()
    rows, json_records = _rows(path)
    columns = list(rows[0][1])
    implicit = PROMPT not in columns
    needed = (CHOSEN, REJECTED) if implicit else (PROMPT, CHOSEN, REJECTED)
    if missing := [c for c in needed if c not in columns]:
        raise DataError(
            f"{path}: no column {', '.join(missing)} (the file has: {', '.join(map(str, columns)) or 'none'}"
            f"). {_FORMATS} Rename the columns to these names."
        )
    records: list[PreferenceDialogue] = []
    dropped: Counter[str] = Counter()
    first: tuple[str, bool] | None = None  # (where, conversational) of the row that set the format
    for where, record in rows:
        if json_records:
            _check_fields(path, where, record, needed, implicit)
        values = {f: _value(path, where, f, record.get(f)) for f in (PROMPT, CHOSEN, REJECTED)}
        deciding = values[CHOSEN if implicit else PROMPT]
        if first is None and deciding != "":
            first = (where, isinstance(deciding, list))
            if implicit and not first[1]:
                raise DataError(
                    f"{path}: {where}, chosen: plain text without a prompt column. Plain-text pairs need "
                    "a prompt column (prompt, chosen, rejected); without one, chosen and rejected must be "
                    "whole conversations (lists of messages) that share the prompt."
                )
        if first is not None:
            _check_format(path, where, values, first, implicit)
        pair = _pair(path, where, values, _text(record.get(CONDITION)), implicit)
        if isinstance(pair, str):
            dropped[pair] += 1
        else:
            records.append(pair)
    if not records:
        raise DataError(
            f"{path}: none of its {len(rows)} rows is a usable preference pair ({dict(dropped)})."
        )
    return ReadResult(path=path, records=records, rows_read=len(rows), dropped=dropped)


# ------------------------------------------------------------------------------------------------ internals
def _rows(path: Path) -> tuple[list[tuple[str, dict]], bool]:
    """(where, record) of every row, and whether the records are JSON (their fields may vary by row)."""
    suffix = path.suffix.lower()
    if suffix in EXCEL or suffix in SEPARATORS:
        frame = read_frame(path)
        return [(f"row {i}", r) for i, r in enumerate(frame.to_dict("records"), start=2)], False
    if suffix not in JSON_SUFFIXES:
        raise DataError(
            f"{path}: unknown file type '{suffix}'. Use .jsonl/.json, .csv, .tsv/.txt (tab-separated) or "
            ".xlsx."
        )
    require_file(path)
    text = decode_text(path)[0]
    if suffix == ".json" and text.lstrip().startswith("["):
        rows = [(f"record {i}", r) for i, r in enumerate(load_json(path), start=1)]
    else:
        rows = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((f"line {line_no}", json.loads(line)))
                except json.JSONDecodeError as err:
                    raise DataError(
                        f"{path}: line {line_no} is not valid JSON (column {err.colno}: {err.msg}). "
                        "Write one JSON object per line."
                    ) from err
    if not rows:
        raise DataError(f"{path}: the file has no preference pairs (no JSON record).")
    for where, record in rows:
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: {where} is a {type(record).__name__}, not a JSON object with prompt, chosen and "
                "rejected."
            )
    return rows, True


def _check_fields(path: Path, where: str, record: dict, needed: tuple[str, ...], implicit: bool) -> None:
    """A JSON record has the fields the first record set (and no prompt in an implicit-prompt file)."""
    for field in needed:
        if field not in record:
            raise DataError(f"{path}: {where} has no field '{field}' (the first record has one). {_FORMATS}")
    if implicit and PROMPT in record:
        raise DataError(
            f"{path}: {where}, prompt: the first record has no prompt (the implicit-prompt form) but this one"
            " has; one file must hold one format."
        )


def _check_format(
    path: Path, where: str, values: dict[str, Value], first: tuple[str, bool], implicit: bool
) -> None:
    """Every field of a row is in the format its file's first row set (an empty value fits either)."""
    first_where, conversational = first
    fields = (CHOSEN, REJECTED) if implicit else (PROMPT,) if conversational else (PROMPT, CHOSEN, REJECTED)
    for field in fields:
        value = values[field]
        if value == "" or isinstance(value, list) == conversational:
            continue
        found, expected = (
            ("plain text", "lists of messages") if conversational else ("messages", "plain text")
        )
        raise DataError(
            f"{path}: {where}, {field}: {found}, but {first_where} set the file's format to "
            f"{'conversational' if conversational else 'plain text'}. One file must hold one format: write "
            f"every row's {field} as {expected}."
        )


def _pair(
    path: Path, where: str, values: dict[str, Value], column_condition: str, implicit: bool
) -> PreferenceDialogue | str:
    """The pair of one row, or the reason it is dropped; malformed messages are a `DataError`."""
    if implicit:
        return _implicit_pair(path, where, values, column_condition)
    prompt, chosen, rejected = values[PROMPT], values[CHOSEN], values[REJECTED]
    if isinstance(prompt, list):
        messages = _messages(path, where, PROMPT, prompt)
    else:
        messages = [("user", prompt)] if prompt else []
    chosen_text = _reply(path, where, CHOSEN, chosen)
    rejected_text = _reply(path, where, REJECTED, rejected)
    return _finish(path, where, messages, chosen_text, rejected_text, column_condition)


def _implicit_pair(
    path: Path, where: str, values: dict[str, Value], column_condition: str
) -> PreferenceDialogue | str:
    """Whole conversations that differ in their last message only: the shared messages are the prompt."""
    chosen, rejected = values[CHOSEN], values[REJECTED]
    if chosen == "":
        return "empty chosen reply"
    if rejected == "":
        return "empty rejected reply"
    ours = _messages(path, where, CHOSEN, chosen)
    theirs = _messages(path, where, REJECTED, rejected)
    shared = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
    )
    if ours != theirs and not len(ours) == len(theirs) == shared + 1:
        raise DataError(
            f"{path}: {where}, chosen/rejected: the conversations differ at message {shared + 1} of "
            f"{len(ours)} (chosen) and {len(theirs)} (rejected). Without a prompt column they must share "
            "every message but their last, the two replies; or give the prompt in a prompt column."
        )
    for field, messages in ((CHOSEN, ours), (REJECTED, theirs)):
        if messages[-1][0] != "assistant":
            raise DataError(
                f"{path}: {where}, {field}: the last message is {_a(messages[-1][0])} message; it must be "
                "the assistant's reply that the pair compares."
            )
    return _finish(path, where, ours[:-1], ours[-1][1], theirs[-1][1], column_condition)


def _finish(
    path: Path, where: str, messages: list[Message], chosen: str, rejected: str, column_condition: str
) -> PreferenceDialogue | str:
    """Check the prompt's roles, then keep the pair or name why it is dropped."""
    system = messages[0][1] if messages and messages[0][0] == "system" else None
    history = messages[1:] if system is not None else messages
    first = 2 if system is not None else 1  # the number of the first message after the system one
    for j, (role, _) in enumerate(history):
        i, expected = first + j, "assistant" if j % 2 else "user"
        if role == "system":
            raise DataError(
                f"{path}: {where}, prompt: message {i} is a system message; only the first message may be "
                "one (it becomes the condition). Merge it into the first system message."
            )
        if role != expected:
            raise DataError(
                f"{path}: {where}, prompt: message {i} is {_a(role)} message where {_a(expected)} message "
                "belongs. The prompt's roles must alternate user/assistant, starting with user."
            )
    if history and history[-1][0] != "user":
        raise DataError(
            f"{path}: {where}, prompt: the prompt ends on an assistant message, so no reply can follow it. "
            "End the prompt on the user message that chosen and rejected answer."
        )
    if system and column_condition and system != column_condition:
        raise DataError(
            f"{path}: {where}, condition: '{column_condition}' differs from the prompt's system message "
            f"'{system}', which is the condition too. Keep one of them."
        )
    if not history:
        return "empty prompt"
    if any(not text for _, text in history):
        return "empty message in the prompt"
    if not chosen:
        return "empty chosen reply"
    if not rejected:
        return "empty rejected reply"
    if chosen == rejected:
        return "rejected reply equals the chosen one"
    turns = [Turn(SPEAKERS[role], text) for role, text in history] + [Turn("sys", chosen)]
    return PreferenceDialogue(turns, system or column_condition or None, rejected)


def _value(path: Path, where: str, field: str, raw: object) -> Value:
    """A field as stripped text or as a list of messages: JSON text in a cell is parsed, an empty list is
    ""."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        text = raw.strip()
        if text[:1] not in ("[", "{"):
            return text
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            if not re.search(r'"(role|content)"\s*:', text):
                return text  # plain text that happens to start with a bracket
            raise DataError(
                f"{path}: {where}, {field}: the JSON does not parse (column {err.colno}: {err.msg}). Write "
                'the messages as a JSON list, e.g. [{"role": "user", "content": "..."}], with double quotes.'
            ) from err
    if isinstance(raw, dict):
        return [raw]
    if isinstance(raw, list):
        return raw or ""
    return str(raw)


def _messages(path: Path, where: str, field: str, items: list) -> list[Message]:
    """(role, stripped content) of each message; one `DataError` for a malformed one."""
    messages = []
    for i, item in enumerate(items, start=1):
        at = f"{path}: {where}, {field}: message {i}"
        if not isinstance(item, dict):
            raise DataError(f"{at} is {item!r:.60}, not an object with 'role' and 'content'.")
        role = item.get("role")
        if role not in ("system", "user", "assistant"):
            raise DataError(f"{at} has role {role!r}. Use 'system', 'user' or 'assistant'.")
        content = item.get("content")
        if content is None:
            raise DataError(f"{at} ({role}) has no 'content'. Give every message its text as 'content'.")
        if not isinstance(content, str):
            raise DataError(
                f"{at} ({role}) has a {type(content).__name__} as content. Give its text as a string."
            )
        messages.append((role, content.strip()))
    return messages


def _reply(path: Path, where: str, field: str, value: Value) -> str:
    """A reply's text: a bare string, or exactly one assistant message."""
    if isinstance(value, str):
        return value.strip()
    messages = _messages(path, where, field, value)
    if [role for role, _ in messages] != ["assistant"]:
        roles = ", ".join(role for role, _ in messages)
        raise DataError(
            f"{path}: {where}, {field}: {len(messages)} message(s) ({roles}). {field} must be exactly one "
            'assistant message, [{"role": "assistant", "content": "..."}], or the reply as plain text.'
        )
    return messages[0][1]


def _text(raw: object) -> str:
    return "" if raw is None else str(raw).strip()


def _a(role: str) -> str:
    return f"an {role}" if role == "assistant" else f"a {role}"
