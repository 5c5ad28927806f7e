"""Dialogue templates and label masks: exact target positions, markers, condition, truncation."""

from __future__ import annotations

from collections import Counter

import pytest

from maeum.backbones import load_tokenizer
from maeum.data.dialogue.encoding import encode_dialogue
from maeum.data.dialogue.records import IGNORE_INDEX, TEMPLATES, Dialogue, Turn
from maeum.errors import DataError

pytestmark = pytest.mark.unit

USR, SYS, EOS, COND = 2, 4, 1, 10  # <usr>, <sys>, </s>, <unused1> in KoGPT2 (and tiny_gpt2)
TEXTS = [
    "시험에 떨어졌어.",
    "많이 속상하시겠어요.",
    "다시 볼 수 있을까?",
    "물론이에요.",
    "고마워.",
    "힘내세요!",
]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny_gpt2")


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def three_turns() -> Dialogue:
    return Dialogue([Turn("usr" if i % 2 == 0 else "sys", t) for i, t in enumerate(TEXTS)], condition="슬픔")


def expected_layout(tok) -> tuple[list[int], dict[str, list[int]]]:
    """The chat layout built by hand, and the positions of each reply's text."""
    u1, s1, u2, s2, u3, s3 = (ids(tok, t) for t in TEXTS)
    pieces = [
        [USR],
        u1,
        [COND],
        ids(tok, "슬픔"),
        [SYS],
        s1,
        [USR],
        u2,
        [SYS],
        s2,
        [USR],
        u3,
        [SYS],
        s3,
        [EOS],
    ]
    tokens, spans, names = [], {}, {5: "s1", 9: "s2", 13: "s3", 14: "eos"}
    for k, piece in enumerate(pieces):
        if k in names:
            spans[names[k]] = list(range(len(tokens), len(tokens) + len(piece)))
        tokens += piece
    return tokens, spans


def targets(encoded: dict[str, list[int]]) -> list[int]:
    return [i for i, label in enumerate(encoded["labels"]) if label != IGNORE_INDEX]


def test_chat_template_layout_and_the_four_masks(tok) -> None:
    tokens, spans = expected_layout(tok)
    encode = {
        m: encode_dialogue(three_turns(), tok, label_mask=m, max_length=256)
        for m in ("input", "last_sys", "all_sys", "shift")
    }

    for mask in ("input", "last_sys", "all_sys"):
        assert (
            encode[mask]["input_ids"] == tokens
        )  # no leading bos; markers and condition where the template says
        assert len(encode[mask]["labels"]) == len(tokens)
    assert encode["input"]["labels"] == tokens
    assert targets(encode["last_sys"]) == spans["s3"] + spans["eos"]
    assert targets(encode["all_sys"]) == spans["s1"] + spans["s2"] + spans["s3"] + spans["eos"]
    for mask in ("last_sys", "all_sys"):  # labels equal the inputs where they are targets
        assert all(encode[mask]["labels"][i] == tokens[i] for i in targets(encode[mask]))
        assert not any(tokens[i] == SYS for i in targets(encode[mask]))  # <sys> is never a target
    assert encode["shift"]["input_ids"] == [tok.bos_token_id, *tokens]
    assert encode["shift"]["labels"] == [*tokens, tok.eos_token_id]


def test_condition_appears_once_only_when_set(tok) -> None:
    with_condition = encode_dialogue(three_turns(), tok, label_mask="input", max_length=256)["input_ids"]
    assert with_condition.count(COND) == 1
    assert with_condition.index(COND) == 1 + len(ids(tok, TEXTS[0]))  # right after the first user text
    plain = Dialogue(three_turns().turns)
    assert COND not in encode_dialogue(plain, tok, label_mask="input", max_length=256)["input_ids"]


def test_label_response_template(tok) -> None:
    q, category, response = "잠을 못 자요.", "증상/불면", "많이 힘드시겠어요."
    dialogue = Dialogue([Turn("usr", q), Turn("sys", response)], condition=category)
    encoded = encode_dialogue(
        dialogue, tok, label_mask="last_sys", max_length=128, template=TEMPLATES["label_response"]
    )
    unused0, unused1, unused2 = (tok.convert_tokens_to_ids(f"<unused{i}>") for i in range(3))
    layout = [
        [EOS, unused0],
        ids(tok, q),
        [unused1],
        ids(tok, category),
        [unused2],
        ids(tok, response),
        [EOS],
    ]
    assert encoded["input_ids"] == [t for piece in layout for t in piece]
    start = 2 + len(ids(tok, q)) + 1  # the category, <unused2>, the response and the final </s> are targets
    assert targets(encoded) == list(range(start, len(encoded["input_ids"])))


def test_truncation_drops_the_oldest_exchange_then_cuts_the_first_user_text(tok) -> None:
    tokens, spans = expected_layout(tok)
    first_exchange = spans["s1"][-1] + 1  # <usr> u1 <unused1> 슬픔 <sys> s1
    stats: Counter[str] = Counter()
    encoded = encode_dialogue(
        three_turns(), tok, label_mask="last_sys", max_length=len(tokens) - 1, stats=stats
    )
    condition = [COND, *ids(tok, "슬픔")]
    u2 = ids(tok, TEXTS[2])
    expected = [USR, *u2, *condition, *tokens[u2_end(tokens, spans) :]]
    assert encoded["input_ids"] == expected and len(expected) == len(tokens) - first_exchange + len(condition)
    assert stats == {"dropped_exchanges": 1}
    assert targets(encoded)[-len(spans["s3"]) - 1 :] == list(
        range(len(expected) - len(spans["s3"]) - 1, len(expected))
    )

    # only the last exchange fits, and not quite: its user text is cut from the left, the reply stays whole
    u3, s3 = ids(tok, TEXTS[4]), ids(tok, TEXTS[5])
    last_only = [USR, *u3, *condition, SYS, *s3, EOS]
    stats.clear()
    shorter = encode_dialogue(
        three_turns(), tok, label_mask="last_sys", max_length=len(last_only) - 2, stats=stats
    )
    assert shorter["input_ids"] == [USR, *u3[2:], *condition, SYS, *s3, EOS]
    assert stats == {"dropped_exchanges": 2, "cut_user_texts": 1}


def u2_end(tokens: list[int], spans: dict[str, list[int]]) -> int:
    """Index just after u2 in the full layout: <sys> s2 ... follow."""
    return spans["s2"][0] - 1


def test_a_reply_longer_than_max_length_keeps_its_head_and_eos(tok) -> None:
    reply = "아주 긴 대답입니다. " * 20
    dialogue = Dialogue([Turn("usr", "질문"), Turn("sys", reply)])
    stats: Counter[str] = Counter()
    encoded = encode_dialogue(dialogue, tok, label_mask="last_sys", max_length=16, stats=stats)
    assert len(encoded["input_ids"]) == 16 and encoded["input_ids"][-1] == EOS
    assert encoded["input_ids"][:3] == [USR, SYS, *ids(tok, reply)[:1]]  # the question is gone first
    assert stats == {"cut_user_texts": 1, "cut_replies": 1}
    assert len(encode_dialogue(dialogue, tok, label_mask="shift", max_length=16)["input_ids"]) == 16


@pytest.mark.parametrize(
    ("turns", "mask", "message"),
    [
        ([Turn("sys", "a"), Turn("usr", "b")], "input", "alternate usr, sys"),
        ([Turn("usr", "a")], "input", "end with sys"),
        ([Turn("usr", "a"), Turn("sys", "b")], "everything", "label_mask must be one of"),
    ],
)
def test_bad_dialogues_and_masks_are_refused(tok, turns, mask: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        encode_dialogue(Dialogue(turns), tok, label_mask=mask, max_length=64)


def test_the_template_configs_are_the_templates_in_code() -> None:
    from omegaconf import OmegaConf

    from maeum.data.dialogue.layout import template_from
    from maeum.paths import config_dir

    for name, template in TEMPLATES.items():
        config = OmegaConf.load(config_dir() / "data" / "template" / f"{name}.yaml")
        assert template_from(config) == template, name


def test_prompts_end_where_the_reply_begins(tok) -> None:
    from maeum.data.dialogue.encoding import encode_prompt

    history = three_turns().turns[:-1]  # ends on the third user turn
    full = encode_dialogue(three_turns(), tok, label_mask="input", max_length=256)["input_ids"]
    prompt = encode_prompt(history, tok, max_length=256, condition="슬픔")
    reply_start = len(full) - len(ids(tok, TEXTS[5])) - 1  # before s3 and </s>
    assert prompt == full[:reply_start] and prompt[-1] == SYS
    # label_response: the model writes the category, so the prompt stops at its marker
    wellness = encode_prompt(
        [Turn("usr", TEXTS[0])], tok, max_length=64, template=TEMPLATES["label_response"]
    )
    assert wellness == [EOS, 9, *ids(tok, TEXTS[0]), COND]  # </s><unused0>{question}<unused1>


def test_a_long_history_keeps_the_newest_turns_within_max_length(tok) -> None:
    from maeum.data.dialogue.encoding import encode_prompt

    history = three_turns().turns[:-1]
    u3 = ids(tok, TEXTS[4])
    u2, s2 = ids(tok, TEXTS[2]), ids(tok, TEXTS[3])
    prompt = encode_prompt(history, tok, max_length=len(u3) + 8, condition="슬픔")
    # both older exchanges dropped; the condition moved to the first exchange that remains
    assert prompt == [USR, *u3, COND, *ids(tok, "슬픔"), SYS]
    longer = encode_prompt(history, tok, max_length=len(u2 + s2 + u3) + 8, condition="슬픔")
    assert longer == [USR, *u2, COND, *ids(tok, "슬픔"), SYS, *s2, USR, *u3, SYS]


def test_the_documented_worked_example_is_what_the_code_does(tok) -> None:
    """The worked example of docs/chatbot.md: one dialogue's ids and labels under each mask."""
    import re

    from helpers.configs import REPO

    readme = (REPO / "docs" / "chatbot.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (\d+) \| `([^`]+)` \| (\d+) \| (-?\d+) \| (-?\d+) \| (-?\d+) \|$", readme, re.MULTILINE
    )
    dialogue = Dialogue(
        [
            Turn("usr", "시험에 떨어졌어."),
            Turn("sys", "속상하시겠어요."),
            Turn("usr", "고마워."),
            Turn("sys", "힘내세요!"),
        ],
        condition="슬픔",
    )
    encoded = {
        m: encode_dialogue(dialogue, tok, label_mask=m, max_length=64)
        for m in ("input", "last_sys", "all_sys")
    }
    expected = [
        (str(i), tok.convert_ids_to_tokens(t), str(t), *(str(encoded[m]["labels"][i]) for m in encoded))
        for i, t in enumerate(encoded["input"]["input_ids"])
    ]
    assert [tuple(r) for r in rows] == expected
    shift = encode_dialogue(dialogue, tok, label_mask="shift", max_length=64)
    assert (
        f"shift  input_ids: {shift['input_ids']}" in readme
        and f"shift  labels:    {shift['labels']}" in readme
    )
