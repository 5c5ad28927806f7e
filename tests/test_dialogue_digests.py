"""What every shipped dialogue experiment encodes is what the code before the one layout interface (b079fef)
encoded: training rows under every label mask, at the experiment's `max_length` and at shorter ones that
make truncation cut, the generation prompts and the stop ids (`tests/helpers/encodings.py`). The digests
that changed on purpose are listed in the file's `_changed`, with why.

The fixture cases run by default; the Qwen tokenizer's cases (a real 151k-token vocabulary) and the shared
corpora's run under `-m slow`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.configs import SHARED_DATA
from helpers.encodings import DIGESTS, Case, digests, lengths_of

STORED: dict[str, dict[str, str]] = json.loads(DIGESTS.read_text(encoding="utf-8"))
# the few digests that changed on purpose, with why (shortened lengths of chat-template cases only)
CHANGED = STORED.pop("_changed")


def _case(name: str) -> Case:
    experiment, rest = name.split("@", 1)
    backbone = rest.split(" ")[0]
    return Case(experiment, backbone, rest.endswith("(real data)"))


def _param(name: str) -> object:
    case = _case(name)
    slow = case.real or case.needs_chat_tokenizers
    marks = [pytest.mark.e2e, *([pytest.mark.slow] if slow else [])]
    return pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("name", [_param(name) for name in sorted(STORED)])
def test_every_shipped_dialogue_experiment_encodes_as_before(name: str, tmp_path: Path) -> None:
    case = _case(name)
    if case.needs_chat_tokenizers and not (SHARED_DATA / "chat-tokenizers").is_dir():
        pytest.skip(f"{case.backbone} needs the real Qwen tokenizer in {SHARED_DATA / 'chat-tokenizers'}")
    if case.real and not SHARED_DATA.is_dir():
        pytest.skip(f"reads the shared corpora in {SHARED_DATA}, which is absent")
    stored = STORED[name]
    expected = {**stored, **CHANGED["digests"].get(name, {})}
    found = digests(case, tmp_path, lengths_of(stored))
    changed = sorted(key for key in expected if found.get(key) != expected[key])
    assert not changed, f"{name}: encoded differently from b079fef: {changed}"
    assert set(found) == set(stored)


@pytest.mark.unit
def test_no_shipped_length_changed_and_each_change_is_said() -> None:
    """What changed on purpose is a shortened length of a chat-template case, never an experiment's own
    `max_length` (the largest length of each case), and the file says why."""
    assert CHANGED["why"]
    for name, keys in CHANGED["digests"].items():
        own = lengths_of(STORED[name])[0]
        assert keys and all(int(key.split("/")[2]) < own for key in keys), name
        assert set(keys) == set(CHANGED["b079fef"][name])
        assert all(STORED[name][key] == CHANGED["b079fef"][name][key] for key in keys)


@pytest.mark.unit
def test_the_digests_cover_every_shipped_dialogue_experiment(tmp_path: Path) -> None:
    """A new dialogue experiment needs its digests (run tests/helpers/encodings.py's `cases` into the file
    with the code that encodes it first); the stored ones name every case."""
    from helpers.encodings import cases

    names = {case.name for case in cases(tmp_path)}
    assert names == set(STORED)
