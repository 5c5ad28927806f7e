"""maeum-data-stats: the corpus as training sees it, ending with one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpora as fx
from helpers.configs import SHARED_DATA, compose_config

from maeum.data_stats import data_stats

pytestmark = pytest.mark.unit

KEYS = {"rows_read", "rows_kept", "dropped", "labels", "splits"}


def last_json_line(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_stats_of_an_aihub_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = fx.aihub_old_xlsx(tmp_path / "old.xlsx")
    data_stats(compose_config("data_stats", tmp_path, ["data=classify/aihub_emotion", f"data.path={path}"]))
    stats = last_json_line(capsys)
    assert set(stats) == KEYS
    assert stats["rows_read"] == 7 and stats["rows_kept"] == 6 and stats["dropped"] == {"empty text": 1}
    assert stats["labels"] == {"분노": 1, "슬픔": 1, "불안": 1, "상처": 1, "당황": 1, "기쁨": 1}
    assert sum(stats["splits"].values()) == 6


@pytest.mark.skipif(
    not (SHARED_DATA / "chatbotdata").is_dir(), reason=f"no real ChatbotData at {SHARED_DATA}"
)
def test_stats_of_the_real_chatbotdata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = SHARED_DATA / "chatbotdata" / "ChatbotData.csv"
    data_stats(compose_config("data_stats", tmp_path, ["data=classify/chatbotdata", f"data.path={path}"]))
    stats = last_json_line(capsys)
    assert stats["rows_read"] == stats["rows_kept"] == 11823
    assert stats["labels"] == {"일상다반사": 5290, "이별(부정)": 3570, "사랑(긍정)": 2963}


def test_stats_of_dialogues_count_turns_truncation_and_targets_per_mask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = ["data=dialogue/sample", "data.turn_prefixes=true", "data.max_length=24"]
    data_stats(compose_config("data_stats", tmp_path, overrides))
    stats = last_json_line(capsys)
    assert KEYS - {"labels"} <= set(stats)
    assert stats["dialogues"] == stats["rows_kept"] == 42
    assert stats["examples"] == sum(stats["splits"].values()) > 42  # training prefixes added
    assert stats["turns"]["max"] == 4 and 2 <= stats["turns"]["mean"] <= 4
    assert stats["truncated"]["examples"] > 0 and stats["truncated"]["dropped_exchanges"] > 0
    targets = stats["target_tokens"]
    assert targets["input"] > targets["all_sys"] > targets["last_sys"] > 0
    assert stats["conditions"]["(none)"] == 6
