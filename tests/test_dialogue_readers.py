"""Dialogue readers: every corpus format becomes Dialogue records; drops are counted by reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpora as fx
from helpers.configs import SHARED_DATA

from maeum.data.dialogue.readers import (
    read_aihub_dialogues,
    read_chatbotdata,
    read_dialogue_jsonl,
    read_hg_tods,
    read_wellness,
    read_xpersona_ko,
)
from maeum.data.dialogue.records import Dialogue, Turn
from maeum.errors import DataError
from maeum.paths import resource

pytestmark = pytest.mark.unit


def test_chatbotdata_single_turn_with_the_label_as_condition(tmp_path: Path) -> None:
    path = fx.chatbotdata_csv(tmp_path / "ChatbotData.csv")
    first = read_chatbotdata(path).records[0]
    assert first == Dialogue(
        [Turn("usr", "12시 땡!"), Turn("sys", "하루가 또 가네요.")], condition="일상다반사"
    )
    assert read_chatbotdata(path, condition="id").records[1].condition == "1"


@pytest.mark.parametrize(
    ("policy", "kept", "dropped"),
    [
        ("sample", 4, {"no complete user/system exchange": 1}),
        ("drop", 2, {"no complete user/system exchange": 2}),
    ],
)
def test_wellness_empty_reply_policy(tmp_path: Path, policy: str, kept: int, dropped: dict) -> None:
    path = fx.wellness_xlsx(tmp_path / "wellness.xlsx")
    result = read_wellness(path, empty_reply=policy)
    assert result.dropped == dropped and len(result.records) == kept - (policy == "sample")
    assert result.changed == ({"empty reply filled from its category": 1} if policy == "sample" else {})
    by_user = {d.turns[0].text: d for d in result.records}
    if policy == "sample":  # the empty reply of 감정/감정조절이상 comes from the same category, reproducibly
        filled = by_user["화를 참을 수가 없어요."]
        assert filled.condition == "감정/감정조절이상"
        assert filled.turns[1].text == "감정이 조절이 안 될 때만큼 힘들 때는 없는 거 같아요."
        assert read_wellness(path).records == result.records
    assert "잠을 못 자요." not in by_user  # 증상/불면 has no reply anywhere to draw from


@pytest.mark.parametrize(
    "write", [fx.aihub_new_xlsx, fx.aihub_old_xlsx, fx.aihub_json], ids=["new", "old", "json"]
)
def test_aihub_multi_turn(tmp_path: Path, write) -> None:
    suffix = ".json" if write is fx.aihub_json else ".xlsx"
    result = read_aihub_dialogues(write(tmp_path / f"aihub{suffix}"))
    first = result.records[0]
    assert first.condition == "분노" and [t.speaker for t in first.turns] == ["usr", "sys"] * 3
    assert first.turns[0].text == fx.AIHUB_ROWS[0][3][0] and first.turns[1].text == "시스템 응답 1"
    assert len(result.records[1].turns) == 4  # the third human sentence is empty: the dialogue ends there
    assert result.dropped == {"no complete user/system exchange": 1}  # the row with an empty 사람문장1


def test_jsonl_and_the_bundled_sample() -> None:
    result = read_dialogue_jsonl(resource("dialogue_sample.jsonl"))
    assert len(result.records) == 42 and result.dropped == {}
    assert result.records[0].condition == "분노" and result.records[-1].condition is None


def test_jsonl_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    good = {"turns": [{"speaker": "usr", "text": "안녕"}, {"speaker": "sys", "text": "반가워요"}]}
    path.write_text(json.dumps(good) + "\n" + '{"turns": [{"speaker": "usr"}]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not a dialogue") as err:
        read_dialogue_jsonl(path)
    assert str(path) in str(err.value)


def test_hg_tods_null_reply_ends_the_dialogue(tmp_path: Path) -> None:
    turns = [
        {
            "turn_num": 1,
            "user_message": "발라드 틀어줘",
            "system_message": "라파엘의 오랜시간을 틀어드릴까요?",
        },
        {"turn_num": 2, "user_message": "응", "system_message": "재생할게요."},
        {"turn_num": 3, "user_message": "고마워", "system_message": "NULL"},
        {"turn_num": 4, "user_message": "다음 곡", "system_message": "다음 곡입니다."},
    ]
    path = tmp_path / "dev_dialog.json"
    path.write_text(json.dumps([{"idx": 0, "num_of_turns": 9, "turns": turns}], ensure_ascii=False))
    (dialogue,) = read_hg_tods(path).records
    assert [t.text for t in dialogue.turns] == [
        "발라드 틀어줘",
        "라파엘의 오랜시간을 틀어드릴까요?",
        "응",
        "재생할게요.",
    ]
    assert dialogue.condition is None


@pytest.mark.skipif(not (SHARED_DATA / "hg-tods").is_dir(), reason=f"no real HG-TODS at {SHARED_DATA}")
def test_real_hg_tods() -> None:
    result = read_hg_tods(SHARED_DATA / "hg-tods" / "dev_dialog.json")
    assert result.rows_read == 298 and len(result.records) + sum(result.dropped.values()) == 298
    assert all(2 <= len(d.turns) <= 20 and "NULL" not in (t.text for t in d.turns) for d in result.records)
    assert sum(len(d.turns) >= 10 for d in result.records) > 200  # mostly 5 to 10 exchanges: real multi-turn


XPERSONA = SHARED_DATA / "korean-text" / "xpersona_ko_dialogues.jsonl"


def test_xpersona_ko_reads_each_split_with_no_condition(tmp_path: Path) -> None:
    path = fx.xpersona_ko_jsonl(tmp_path / "대화 (xpersona).jsonl", copies=2)
    valid, test, every = (read_xpersona_ko(path, split=s) for s in ("valid", "test", None))
    assert (valid.rows_read, len(valid.records), test.rows_read, len(test.records)) == (8, 8, 4, 4)
    assert len(every.records) == 12 and valid.dropped == test.dropped == {}
    assert every.records[:4] == valid.records[:4] and every.records[4:6] == test.records[:2]
    assert all(d.condition is None for d in every.records)  # the persona is not a condition
    assert [t.text for t in valid.records[2].turns][-2:] == [
        "ㅋㅋ 진짜?? 😂",
        "응 진짜야 ㅋㅋㅋ",
    ]  # as written
    assert test.records[2].turns[1].text == "최고야!! 방금 시험 끝났어 🎉 (1)"
    with pytest.raises(DataError, match=r"\) must be valid, test or null, not 'train'"):
        read_xpersona_ko(path, split="train")


def _xpersona_line(turns: list, split: object = "valid") -> str:
    return json.dumps({"turns": turns, "persona": ["나는 학생이야."], "split": split}, ensure_ascii=False)


USR, SYS = {"speaker": "usr", "text": "안녕 ㅎㅎ"}, {"speaker": "sys", "text": "반가워 😊"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"turns": [{"speaker": "usr", "text": "안녕"}', r"line 2 is not a dialogue \(JSONDecodeError"),
        (_xpersona_line([{"text": "안녕"}, SYS]), r"line 2 is not a dialogue \(KeyError\('speaker'\)"),
        (
            _xpersona_line([{"speaker": "bot", "text": "ㅋㅋ"}, SYS]),
            "line 2: speakers must be 'usr' or 'sys'",
        ),
        (_xpersona_line([USR, SYS], split="train"), "line 2: split must be 'valid' or 'test', not 'train'"),
        (_xpersona_line([USR, SYS], split=None), "line 2: split must be 'valid' or 'test', not None"),
    ],
    ids=["json", "no-speaker", "unknown-speaker", "unknown-split", "no-split"],
)
def test_xpersona_ko_bad_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "대화 (xpersona).jsonl"
    path.write_text(_xpersona_line([USR, SYS], split="test") + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as err:
        read_xpersona_ko(path, split="test")  # every line is checked, whichever split is read
    assert str(path) in str(err.value)


def test_xpersona_ko_dialogues_that_do_not_alternate_are_dropped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "대화 (xpersona).jsonl"
    lines = [[USR, SYS, USR, SYS], [SYS, USR], [USR, USR, SYS, SYS], [USR, SYS, USR], [], [USR, SYS]]
    path.write_text("\n".join(_xpersona_line(t) for t in lines) + "\n\n", encoding="utf-8")
    result = read_xpersona_ko(path, split="valid")
    assert result.rows_read == 6 and [len(d.turns) for d in result.records] == [4, 2]
    assert result.dropped == {"turns do not alternate usr/sys ending with sys": 4}
    with pytest.raises(DataError, match="no dialogue has split 'test'"):
        read_xpersona_ko(path, split="test")
    path.write_text(_xpersona_line([SYS, USR]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"none of its 1 dialogues alternates usr/sys"):
        read_xpersona_ko(path)


@pytest.mark.skipif(not XPERSONA.is_file(), reason=f"no real XPersona Korean dialogues at {XPERSONA}")
def test_real_xpersona_ko() -> None:
    valid, test = read_xpersona_ko(XPERSONA, split="valid"), read_xpersona_ko(XPERSONA, split="test")
    assert (len(valid.records), len(test.records)) == (299, 300) and valid.dropped == test.dropped == {}
    assert sum(len(d.turns) for d in valid.records + test.records) == 9362
    assert all(14 <= len(d.turns) <= 26 and d.condition is None for d in valid.records + test.records)


def test_jsonl_undecodable_bytes_are_one_message(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"turns": []}\n\xff\xfe\xfa\n')
    with pytest.raises(DataError, match=r"neither UTF-8 nor cp949.*Re-save") as err:
        read_dialogue_jsonl(path)
    assert str(path) in str(err.value)
