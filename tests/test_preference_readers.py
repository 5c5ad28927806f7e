"""Preference readers: TRL's standard, conversational and implicit-prompt files in JSON lines, CSV and xlsx
become PreferenceDialogue records; bad input is one DataError naming file, row and field; drops are
counted by reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from maeum.data.dialogue.records import Turn
from maeum.data.preference.readers import DROP_REASONS, read_preferences
from maeum.data.preference.records import PreferenceDialogue
from maeum.errors import DataError

pytestmark = pytest.mark.unit

JSONL, CSV, XLSX = "선호 데이터 (최종).jsonl", "선호.csv", "선호 쌍 v2 (검수).xlsx"


def usr(text: str) -> dict:
    return {"role": "user", "content": text}


def bot(text: str) -> dict:
    return {"role": "assistant", "content": text}


def system(text: str) -> dict:
    return {"role": "system", "content": text}


def write(path: Path, rows: list[dict]) -> Path:
    """Rows as users save them: JSON lines (UTF-8), CSV with a BOM, xlsx; lists and dicts in a table's
    cells are JSON text."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path
    cells = [
        {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in r.items()}
        for r in rows
    ]
    frame = pd.DataFrame(cells)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_excel(path, index=False)
    return path


def expect_error(path: Path, *parts: str) -> str:
    """The one DataError reading `path` raises; it names the file and every part."""
    with pytest.raises(DataError) as info:
        read_preferences(path)
    message = str(info.value)
    assert path.name in message
    for part in parts:
        assert part in message, (part, message)
    return message


FILES = pytest.mark.parametrize("name", [JSONL, CSV, XLSX], ids=["jsonl", "csv", "xlsx"])


@FILES
def test_standard_plain_text_pairs(tmp_path: Path, name: str) -> None:
    rows = [
        {
            "prompt": "  오늘 #@이름# 때문에 너무 속상해요 ㅠㅠ ",
            "chosen": "많이 속상하셨겠어요 😢 무슨 일이 있었는지 들려주실래요?",
            "rejected": "그렇군요 ㅋㅋㅋ",
            "condition": "슬픔",
        },
        {
            "prompt": "합격했어요!!",
            "chosen": "축하드려요 🎉 정말 기쁘시겠어요!",
            "rejected": "네.",
            "condition": "",
        },
    ]
    result = read_preferences(write(tmp_path / name, rows))
    assert result.records == [
        PreferenceDialogue(
            [
                Turn("usr", "오늘 #@이름# 때문에 너무 속상해요 ㅠㅠ"),
                Turn("sys", "많이 속상하셨겠어요 😢 무슨 일이 있었는지 들려주실래요?"),
            ],
            "슬픔",
            "그렇군요 ㅋㅋㅋ",
        ),
        PreferenceDialogue(
            [Turn("usr", "합격했어요!!"), Turn("sys", "축하드려요 🎉 정말 기쁘시겠어요!")], None, "네."
        ),
    ]
    assert result.rows_read == 2 and not result.dropped
    assert result.records[0].prompt.turns == (Turn("usr", "오늘 #@이름# 때문에 너무 속상해요 ㅠㅠ"),)


@FILES
def test_conversational_pairs_keep_the_history_and_the_system_message_as_condition(
    tmp_path: Path, name: str
) -> None:
    rows = [
        {
            "prompt": [
                system("불안"),
                usr("내일 면접이에요 ㅠㅠ"),
                bot("긴장되시겠어요. 어떤 점이 제일 걱정되세요?"),
                usr("말을 더듬을까 봐요 ㅜㅜ"),
            ],
            "chosen": [bot("충분히 준비하셨으니 천천히 말씀하셔도 괜찮아요 🙂")],
            "rejected": [bot("그냥 하세요 ㅋㅋ")],
        },
        {
            "prompt": [usr("배고파요")],
            "chosen": "뭐 드시고 싶으세요? 😋",
            "rejected": {"role": "assistant", "content": "몰라요"},
        },
    ]
    result = read_preferences(write(tmp_path / name, rows))
    history = [
        Turn("usr", "내일 면접이에요 ㅠㅠ"),
        Turn("sys", "긴장되시겠어요. 어떤 점이 제일 걱정되세요?"),
        Turn("usr", "말을 더듬을까 봐요 ㅜㅜ"),
    ]
    assert result.records == [
        PreferenceDialogue(
            [*history, Turn("sys", "충분히 준비하셨으니 천천히 말씀하셔도 괜찮아요 🙂")],
            "불안",
            "그냥 하세요 ㅋㅋ",
        ),
        PreferenceDialogue([Turn("usr", "배고파요"), Turn("sys", "뭐 드시고 싶으세요? 😋")], None, "몰라요"),
    ]
    assert result.records[0].prompt.turns == tuple(history)


@pytest.mark.parametrize("name", [JSONL, XLSX], ids=["jsonl", "xlsx"])
def test_implicit_prompt_is_the_shared_prefix(tmp_path: Path, name: str) -> None:
    prefix = [
        system("기쁨"),
        usr("드디어 이사했어요!"),
        bot("축하해요! 새 집은 어때요?"),
        usr("넓고 좋아요 ㅎㅎ"),
    ]
    rows = [{"chosen": [*prefix, bot("정말 잘됐네요 🏠")], "rejected": [*prefix, bot("그래서요?")]}]
    (dialogue,) = read_preferences(write(tmp_path / name, rows)).records
    assert dialogue == PreferenceDialogue(
        [
            Turn("usr", "드디어 이사했어요!"),
            Turn("sys", "축하해요! 새 집은 어때요?"),
            Turn("usr", "넓고 좋아요 ㅎㅎ"),
            Turn("sys", "정말 잘됐네요 🏠"),
        ],
        "기쁨",
        "그래서요?",
    )


def test_json_list_file_and_plain_text_that_starts_with_a_bracket(tmp_path: Path) -> None:
    path = tmp_path / "선호 목록 (hub).json"
    rows = [{"prompt": "[광고] 이거 어때요?", "chosen": "{이름}님, 좋아 보여요!", "rejected": "별로"}]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (dialogue,) = read_preferences(path).records
    assert dialogue.turns == (Turn("usr", "[광고] 이거 어때요?"), Turn("sys", "{이름}님, 좋아 보여요!"))


def test_cp949_csv(tmp_path: Path) -> None:
    path = tmp_path / "선호 (엑셀 저장).csv"
    pd.DataFrame([{"prompt": "심심해 ㅋㅋㅋ", "chosen": "같이 얘기해요 ㅎㅎ", "rejected": "ㅇㅇ"}]).to_csv(
        path, index=False, encoding="cp949"
    )
    assert read_preferences(path).records[0].turns[0] == Turn("usr", "심심해 ㅋㅋㅋ")


@pytest.mark.parametrize("name", [JSONL, CSV], ids=["jsonl", "csv"])
def test_drops_are_counted_by_reason(tmp_path: Path, name: str) -> None:
    ok = {"prompt": [usr("안녕하세요")], "chosen": [bot("반가워요 😊")], "rejected": [bot("네")]}
    rows = [
        ok,
        {**ok, "prompt": "  "},
        {**ok, "prompt": [system("기쁨")]},  # a system message only: no user message to answer
        {**ok, "prompt": [usr("  "), bot("네?"), usr("안녕")]},
        {**ok, "chosen": [bot("   ")]},
        {**ok, "rejected": ""},
        {**ok, "rejected": [bot("반가워요 😊 ")]},
        ok,
    ]
    result = read_preferences(write(tmp_path / name, rows))
    assert len(result.records) == 2 and result.rows_read == 8
    assert result.dropped == {
        "empty prompt": 2,
        "empty message in the prompt": 1,
        "empty chosen reply": 1,
        "empty rejected reply": 1,
        "rejected reply equals the chosen one": 1,
    }
    assert set(result.dropped) == set(DROP_REASONS)
    assert "kept 2" in result.summary() and "1 rejected reply equals the chosen one" in result.summary()


def test_implicit_drops(tmp_path: Path) -> None:
    same = [usr("안녕"), bot("안녕하세요")]
    rows = [
        {"chosen": same, "rejected": same},
        {"chosen": [], "rejected": same},
        {"chosen": [usr("안녕"), bot("반가워요")], "rejected": same},
    ]
    result = read_preferences(write(tmp_path / JSONL, rows))
    assert len(result.records) == 1
    assert result.dropped == {"rejected reply equals the chosen one": 1, "empty chosen reply": 1}


GOOD = {"prompt": [usr("힘들어요 ㅠㅠ")], "chosen": [bot("많이 힘드셨죠")], "rejected": [bot("ㅋㅋ")]}

BAD_ROWS = {  # the second row is bad: (its fields, what the message names besides the file and row)
    "prompt ends on assistant": ({"prompt": [usr("안녕"), bot("네")]}, ["prompt", "ends on an assistant"]),
    "roles do not alternate": (
        {"prompt": [usr("안녕"), usr("저기요")]},
        ["prompt", "message 2", "alternate"],
    ),
    "prompt starts with assistant": ({"prompt": [bot("네"), usr("안녕")]}, ["prompt", "message 1", "user"]),
    "system message not first": (
        {"prompt": [usr("안녕"), system("슬픔")]},
        ["prompt", "message 2", "system"],
    ),
    "unknown role": (
        {"prompt": [{"role": "상담사", "content": "안녕"}]},
        ["prompt", "message 1", "'상담사'"],
    ),
    "message without content": ({"prompt": [{"role": "user"}]}, ["prompt", "message 1", "no 'content'"]),
    "chosen of two messages": ({"chosen": [bot("네"), bot("네네")]}, ["chosen", "exactly one assistant"]),
    "chosen from the user": ({"chosen": [usr("네")]}, ["chosen", "exactly one assistant"]),
    "rejected message not an object": ({"rejected": ["네"]}, ["rejected", "message 1", "not an object"]),
    "plain prompt in a conversational file": ({"prompt": "안녕"}, ["prompt", "plain text", "conversational"]),
    "condition disagrees with system": (
        {"prompt": [system("기쁨"), usr("안녕")], "condition": "슬픔"},
        ["condition", "'슬픔'", "'기쁨'"],
    ),
}


@pytest.mark.parametrize(("name", "where"), [(JSONL, "line 2,"), (CSV, "row 3,"), (XLSX, "row 3,")])
@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_row_is_one_error_naming_file_row_and_field(
    tmp_path: Path, name: str, where: str, case: str
) -> None:
    fields, parts = BAD_ROWS[case]
    rows = [{**GOOD, "condition": ""}, {**GOOD, "condition": "", **fields}]
    expect_error(write(tmp_path / name, rows), where, *parts)


def test_mixed_formats_name_the_row_that_set_the_format(tmp_path: Path) -> None:
    plain = {"prompt": "안녕", "chosen": "반가워요", "rejected": "네"}
    blank = {"prompt": "", "chosen": "", "rejected": ""}  # empty values fit either format
    expect_error(
        write(tmp_path / CSV, [blank, plain, GOOD]), "row 4, prompt", "messages", "row 3", "plain text"
    )
    expect_error(write(tmp_path / JSONL, [GOOD, plain]), "line 2, prompt", "plain text", "line 1")
    reply = write(tmp_path / XLSX, [{**plain, "chosen": [bot("반가워요")]}])
    expect_error(reply, "row 2, chosen", "messages", "plain text")


def test_json_cell_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / CSV
    pd.DataFrame(
        [
            {"prompt": json.dumps([usr("안녕")]), "chosen": "반가워요", "rejected": "네"},
            {"prompt": "[{'role': 'user', \"content\": \"안녕\"}]", "chosen": "반가워요", "rejected": "네"},
        ]
    ).to_csv(path, index=False)
    expect_error(path, "row 3, prompt", "does not parse")


def test_missing_column_names_found_and_needed(tmp_path: Path) -> None:
    path = write(tmp_path / XLSX, [{"prompt": "안녕", "chosen": "반가워요", "거절": "네"}])
    message = expect_error(path, "no column rejected", "prompt, chosen, 거절", "prompt, chosen and rejected")
    assert "row" not in message.split(path.name)[1]
    jsonl = write(tmp_path / JSONL, [{"question": "안녕", "answer": "반가워요"}])
    expect_error(jsonl, "no column chosen, rejected", "question, answer")
    later = write(
        tmp_path / "선호 (누락).jsonl", [{"prompt": "a", "chosen": "b", "rejected": "c"}, {"prompt": "a"}]
    )
    expect_error(later, "line 2", "'chosen'")


def test_implicit_errors(tmp_path: Path) -> None:
    differ = [{"chosen": [usr("안녕"), bot("네")], "rejected": [usr("하이"), bot("네네")]}]
    expect_error(write(tmp_path / JSONL, differ), "line 1, chosen/rejected", "message 1")
    user_last = [{"chosen": [usr("안녕"), bot("네")], "rejected": [usr("안녕"), usr("네네")]}]
    expect_error(write(tmp_path / CSV, user_last), "row 2, rejected", "user message")
    plain = [{"chosen": "안녕하세요", "rejected": "네"}]
    expect_error(write(tmp_path / XLSX, plain), "row 2, chosen", "prompt column")


def test_empty_files_are_errors(tmp_path: Path) -> None:
    blank = tmp_path / JSONL
    blank.write_text("\n  \n", encoding="utf-8")
    expect_error(blank, "no preference pairs")
    header = tmp_path / CSV
    header.write_text("prompt,chosen,rejected\n", encoding="utf-8")
    expect_error(header, "no data rows")
    dropped = write(tmp_path / "선호 (빈칸).jsonl", [{"prompt": "안녕", "chosen": "", "rejected": "네"}])
    expect_error(dropped, "none of its 1 rows", "empty chosen reply")
    broken = tmp_path / "선호 (깨짐).jsonl"
    broken.write_text('{"prompt": "안녕", "chosen": "네", "rejected": "음"}\n{"prompt": \n', encoding="utf-8")
    expect_error(broken, "line 2", "not valid JSON")
