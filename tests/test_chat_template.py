"""Dialogues in a model's own chat template: every mask's targets against an independent computation (the
family's message markers found in the rendered text), TRL's `{% generation %}` masks, end-of-turn targets,
truncation, prompts, stop tokens, Qwen3's thinking block, and the errors for bad templates."""

from __future__ import annotations

import functools
import re
from collections import Counter

import pytest
from helpers.configs import SHARED_DATA

from maeum.backbones import load_tokenizer
from maeum.data.dialogue.chat_template import messages_of, reply_text
from maeum.data.dialogue.encoding import encode_dialogue, encode_dialogues, encode_prompt, stop_ids
from maeum.data.dialogue.layout import template_from
from maeum.data.dialogue.records import IGNORE_INDEX, ChatTemplate, Dialogue, Turn
from maeum.errors import DataError

pytestmark = pytest.mark.unit

TOKENIZERS = SHARED_DATA / "chat-tokenizers"
needs_qwen = pytest.mark.skipif(not TOKENIZERS.is_dir(), reason=f"no real chat tokenizers at {TOKENIZERS}")
TWINS = [
    "tiny_llama3",
    pytest.param("tiny_qwen3", marks=needs_qwen),
    pytest.param("tiny_qwen2_5", marks=needs_qwen),
]
# each family's assistant message, from its header to its end of turn, by the family's own markers: an
# independent computation of the spans (maeum itself never looks for a family's markers)
ASSISTANT = {
    "tiny_llama3": re.compile(
        r"<\|start_header_id\|>assistant<\|end_header_id\|>\n\n(.*?<\|eot_id\|>)", re.S
    ),
    "tiny_qwen3": re.compile(r"<\|im_start\|>assistant\n(.*?<\|im_end\|>\n)", re.S),
    "tiny_qwen2_5": re.compile(r"<\|im_start\|>assistant\n(.*?<\|im_end\|>\n)", re.S),
}
EOT = {"tiny_llama3": "<|eot_id|>", "tiny_qwen3": "<|im_end|>", "tiny_qwen2_5": "<|im_end|>"}
TEXTS = [
    "시험에 떨어졌어 ㅠㅠ",
    "많이 속상하시겠어요.",
    "다시 볼 수 있을까? :)",
    "물론이에요 😊",
    "ㅋㅋㅋ 고마워",
    "힘내세요!!",
]


@functools.cache
def twin_tokenizer(name: str):
    """A twin's tokenizer, loaded once for the module (a Qwen one takes seconds); never modified."""
    return load_tokenizer(name)


def dialogue(condition: str | None = "슬픔") -> Dialogue:
    return Dialogue([Turn("usr" if i % 2 == 0 else "sys", t) for i, t in enumerate(TEXTS)], condition)


def expected_targets(tok, twin: str, text: str, mask: str) -> list[int]:
    """Target flags from the family's markers in the rendered text, mapped to tokens by their offsets."""
    spans = [m.span(1) for m in ASSISTANT[twin].finditer(text)]
    spans = spans[-1:] if mask == "last_sys" else spans
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    return [int(any(a <= start < b for a, b in spans)) for start, _ in enc["offset_mapping"]]


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("mask", ["input", "last_sys", "all_sys", "shift"])
def test_every_mask_targets_the_spans_found_independently_in_the_rendering(twin: str, mask: str) -> None:
    tok = twin_tokenizer(twin)
    d = dialogue()
    messages = messages_of(d.turns, d.condition, tok, ChatTemplate())
    text = tok.apply_chat_template(messages, tokenize=False)
    full = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    row = encode_dialogue(d, tok, label_mask=mask, max_length=512, template=ChatTemplate())
    if mask == "shift":  # the control: one token ahead of the model's own shift
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.pad_token_id
        assert row == {"input_ids": [start, *full], "labels": [*full, tok.eos_token_id]}
        return
    assert row["input_ids"] == full  # exactly apply_chat_template's tokens
    flags = [int(label != IGNORE_INDEX) for label in row["labels"]]
    assert flags == ([1] * len(full) if mask == "input" else expected_targets(tok, twin, text, mask))
    assert all(label in (IGNORE_INDEX, t) for label, t in zip(row["labels"], full, strict=True))
    if mask != "input":  # the end of turn is a target, and the reply's text is all there
        targets = tok.decode([t for t, f in zip(full, flags, strict=True) if f])
        assert targets.count(EOT[twin]) == (1 if mask == "last_sys" else 3)
        assert TEXTS[-1] in targets and (TEXTS[1] in targets) == (mask == "all_sys")
        assert "사용자의 감정" not in targets and TEXTS[0] not in targets


@needs_qwen
def test_qwen3s_thinking_block_before_the_last_reply_is_a_target_and_generated_by_the_model() -> None:
    """Qwen3's template writes `<think>\\n\\n</think>\\n\\n` before the last assistant message only: it is
    part of that message's targets (the model learns to write it after the plain generation prompt, as it
    does at inference), never of an earlier one's; a generated reply is read without it."""
    tok = twin_tokenizer("tiny_qwen3")
    row = encode_dialogue(dialogue(), tok, label_mask="all_sys", max_length=512, template=ChatTemplate())
    targets = tok.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label >= 0])
    thinking = "<think>\n\n</think>\n\n"
    assert targets == f"{TEXTS[1]}<|im_end|>\n{TEXTS[3]}<|im_end|>\n{thinking}{TEXTS[5]}<|im_end|>\n"
    prompt = encode_prompt(
        dialogue().turns[:5], tok, max_length=512, condition="슬픔", template=ChatTemplate()
    )
    assert tok.decode(prompt).endswith(
        "<|im_start|>assistant\n"
    )  # the thinking block is the model's to write
    generated = tok("<think>\n\n</think>\n\n괜찮아요 ㅠㅠ", add_special_tokens=False)["input_ids"]
    assert reply_text(tok, generated) == "괜찮아요 ㅠㅠ"


@needs_qwen
@pytest.mark.parametrize("family", ["qwen3", "qwen2_5"])
def test_the_spans_equal_trls_generation_markers(family: str) -> None:
    """With TRL's marker templates, the spans are `return_assistant_tokens_mask`'s; TRL's Qwen2.5 markers
    also take the generation prompt's newline after `assistant`, which maeum leaves in the prompt."""
    tok = twin_tokenizer(f"tiny_{family}")
    template = ChatTemplate(jinja=str(TOKENIZERS / "trl-templates" / f"{family}_training.jinja"))
    d = dialogue()
    row = encode_dialogue(d, tok, label_mask="all_sys", max_length=512, template=template)
    marked = tok.apply_chat_template(
        messages_of(d.turns, d.condition, tok, template),
        chat_template=template.jinja,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    assert marked["input_ids"] == row["input_ids"]
    ours = [int(label != IGNORE_INDEX) for label in row["labels"]]
    differ = [i for i, (a, b) in enumerate(zip(marked["assistant_masks"], ours, strict=True)) if a != b]
    if family == "qwen3":
        assert not differ
    else:
        assert len(differ) == 3 and all(row["input_ids"][i] == tok.convert_tokens_to_ids("Ċ") for i in differ)
        assert all(row["input_ids"][i - 1] == tok.convert_tokens_to_ids("assistant") for i in differ)


@pytest.mark.parametrize("twin", TWINS)
def test_truncation_keeps_the_final_reply_and_its_end_of_turn_and_counts_its_cuts(twin: str) -> None:
    tok = twin_tokenizer(twin)
    whole = encode_dialogue(dialogue(), tok, label_mask="last_sys", max_length=512, template=ChatTemplate())
    final = [t for t, label in zip(whole["input_ids"], whole["labels"], strict=True) if label >= 0]
    last = Dialogue(dialogue().turns[-2:], "슬픔")
    alone = len(
        encode_dialogue(last, tok, label_mask="last_sys", max_length=512, template=ChatTemplate())["labels"]
    )
    for budget, user_cut in ((len(whole["input_ids"]) - 5, False), (alone - 3, True)):
        stats: Counter[str] = Counter()
        options = {"label_mask": "last_sys", "max_length": budget, "stats": stats}
        (row,) = encode_dialogues([dialogue()], tok, template=ChatTemplate(), **options)
        assert len(row["input_ids"]) <= budget
        assert [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label >= 0] == final
        assert stats["truncated_examples"] == 1 and stats["dropped_exchanges"] == (2 if user_cut else 1)
        assert stats["cut_user_texts"] == user_cut and not stats["cut_replies"]
        assert "사용자의 감정: 슬픔" in tok.decode(row["input_ids"])  # the system message stays
    with pytest.raises(DataError, match="max_length=8 cannot hold"):
        encode_dialogues([dialogue()], tok, template=ChatTemplate(), label_mask="last_sys", max_length=8)


@pytest.mark.parametrize("twin", TWINS)
def test_a_prompt_is_the_generation_prompt_and_replies_stop_at_the_end_of_turn(twin: str) -> None:
    tok = twin_tokenizer(twin)
    history = dialogue().turns[:5]
    messages = messages_of(history, "기쁨", tok, ChatTemplate())
    expected = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    chat = {"template": ChatTemplate(), "condition": "기쁨"}
    assert encode_prompt(history, tok, max_length=512, **chat) == expected
    last = encode_prompt(history[-1:], tok, max_length=512, **chat)
    short = encode_prompt(history, tok, max_length=len(last) - 2, **chat)
    assert len(short) <= len(last) - 2 and "기쁨" in tok.decode(short) and TEXTS[4][2:] in tok.decode(short)
    with pytest.raises(DataError, match="cannot hold even the markers of a prompt in the tokenizer's chat"):
        encode_prompt(history, tok, max_length=5, **chat)
    assert stop_ids(tok, ChatTemplate())[0] == tok.convert_tokens_to_ids(EOT[twin])


def test_a_template_without_a_system_role_gets_the_condition_in_the_first_user_message() -> None:
    """Gemma 2's template raises on a system message: the condition goes before the first user text."""
    gemma = (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
        "{{ '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
    )
    tok = load_tokenizer("tiny_llama3")
    tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    template = ChatTemplate(jinja=gemma)
    messages = messages_of(dialogue().turns, "슬픔", tok, template)
    assert messages[0] == {"role": "user", "content": f"사용자의 감정: 슬픔\n\n{TEXTS[0]}"}
    row = encode_dialogue(dialogue(), tok, label_mask="last_sys", max_length=512, template=template)
    targets = tok.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label >= 0])
    assert targets == f"{TEXTS[5]}<end_of_turn>\n"


def test_a_chat_template_is_stored_and_read_back_by_its_fields() -> None:
    template = ChatTemplate(system_prompt="감정: {condition}", jinja="{{ messages }}")
    from dataclasses import asdict

    assert template_from(asdict(template)) == template
    assert template_from({"_target_": "maeum.data.dialogue.records.ChatTemplate"}) == ChatTemplate()
    assert template_from("chat_template") == ChatTemplate()


def test_bad_chat_templates_get_one_clear_message(tmp_path) -> None:
    with pytest.raises(DataError, match=r"needs a tokenizer with a chat template.*data/template=chat"):
        encode_dialogue(
            dialogue(),
            load_tokenizer("tiny_gpt2"),
            label_mask="last_sys",
            max_length=64,
            template=ChatTemplate(),
        )
    # a template that rewrites the assistant's text: its tokens cannot be found, and the dialogue is named
    rewrites = (
        "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' }}"
        "{{ m['content'] | upper if m['role'] == 'assistant' else m['content'] }}"
        "{{ '<|eot_id|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
    )
    english = Dialogue([Turn("usr", "안녕"), Turn("sys", "hello there")], None)
    with pytest.raises(DataError, match=r"dialogue 1 \(first user turn '안녕'\).*'hello there'"):
        encode_dialogues(
            [dialogue(), english],
            load_tokenizer("tiny_llama3"),
            template=ChatTemplate(jinja=rewrites),
            label_mask="last_sys",
            max_length=512,
        )
    with pytest.raises(DataError, match="must contain '\\{condition\\}'"):
        ChatTemplate(system_prompt="감정")
    with pytest.raises(DataError, match="no such chat template file"):
        ChatTemplate(jinja=str(tmp_path / "없는 템플릿 (1).jinja"))


@pytest.mark.parametrize(("backbone", "template"), [("tiny_llama3", ChatTemplate()), ("tiny_gpt2", "chat")])
def test_a_first_user_text_shorter_than_the_cut_goes_whole_before_the_reply_is_cut(
    backbone: str, template: object
) -> None:
    """Both layouts cut in the documented order: when more must go than the first user text holds, all of it
    goes, then the final reply's tail (the chat-template code of b079fef kept the user text and cut the reply
    to nothing, or refused)."""
    tok = load_tokenizer(backbone)
    reply = "좋아요 그럼 내일 다시 이야기해요 ㅎㅎ 😊"
    dialogue = Dialogue([Turn("usr", "응"), Turn("sys", reply)], "기쁨")
    whole = encode_dialogue(dialogue, tok, label_mask="last_sys", max_length=512, template=template)
    user = len(tok("응", add_special_tokens=False)["input_ids"])
    stats: Counter[str] = Counter()
    budget = len(whole["input_ids"]) - user - 2
    row = encode_dialogue(
        dialogue, tok, label_mask="last_sys", max_length=budget, template=template, stats=stats
    )
    assert len(row["input_ids"]) <= budget
    assert stats["cut_user_texts"] == 1 and stats["cut_replies"] == 1
    text = tok.decode(row["input_ids"])
    assert "응" not in text.replace("좋아요", "")  # the user text is gone...
    kept = tok.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label >= 0])
    assert kept.replace("▁", " ").lstrip().startswith("좋아요 그럼")  # ... and the reply lost its tail only
