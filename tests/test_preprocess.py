"""Text cleaning: placeholders, seeded names, repeated jamo and punctuation, NFC; no old-cleaner bugs."""

from __future__ import annotations

import unicodedata

import pytest

from maeum.data.preprocess import DEFAULT_NAMES, TextCleaner

pytestmark = pytest.mark.unit

clean = TextCleaner()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("사진 보내줄게 #@시스템#사진# 어때?", "사진 보내줄게 어때?"),
        ("#@이모티콘# 좋아요 #@URL#", "좋아요"),
        ("여기 봐 https://example.com/a?b=1 그리고 www.naver.com 도", "여기 봐 그리고 도"),
        ("ㅋㅋㅋㅋㅋ 웃겨 ㅎㅎㅎ ㅠㅠㅠㅠ ㅜㅜㅜ", "ㅋㅋ 웃겨 ㅎㅎ ㅠㅠ ㅜㅜ"),
        ("정말????? 대박!!!!! 음......", "정말?? 대박!! 음.."),
        ("ㅎㅎ 그렇구나", "ㅎㅎ 그렇구나"),  # ㅎ stays ㅎ (the old cleaner made it ㅋㅋ)
        ('그가 "안녕"이라고 했어', '그가 "안녕"이라고 했어'),  # quotes stay (the old cleaner deleted them)
        ("  여러   칸의    공백  ", "여러 칸의 공백"),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "감정")
    assert decomposed != "감정" and clean(decomposed) == "감정"


def test_names_are_drawn_reproducibly() -> None:
    text = "#@이름# 오늘 #@이름# 만났어"
    first = clean(text)
    assert "#@" not in first and first == clean(text) == TextCleaner()(text)  # the same, call after call
    drawn = {TextCleaner(seed=s)(text).split()[0] for s in range(20)}
    assert drawn <= set(DEFAULT_NAMES) and len(drawn) > 1  # the seed matters
    assert TextCleaner(names=["철수"])("#@이름#!") == "철수!"


def test_punctuation_stripping_is_an_option() -> None:
    assert clean("안녕, 잘 지내?") == "안녕, 잘 지내?"
    assert TextCleaner(strip_punctuation=True)("안녕, 잘 지내? ㅋㅋ") == "안녕 잘 지내 ㅋㅋ"
