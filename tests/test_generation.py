"""maeum.inference.generation: KV-cache decoding that matches a plain argmax loop, stops at markers, keeps
emoticons."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from maeum.backbones import KOGPT2_EMOTICONS, load_model, load_tokenizer
from maeum.data.dialogue.records import TEMPLATES, Dialogue, Turn
from maeum.inference import generation
from maeum.inference.generation import ReplyGenerator
from maeum.paths import config_dir

pytestmark = pytest.mark.unit

USR, SYS, EOS, UNUSED1, UNUSED2 = 2, 4, 1, 10, 11


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny_gpt2")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return load_model("tiny_gpt2", causal_lm=True).eval()


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


DIALOGUES = [
    Dialogue([Turn("usr", "안녕하세요")], "기쁨"),
    Dialogue(
        [
            Turn("usr", "오늘 너무 힘들었어요"),
            Turn("sys", "무슨 일 있었어요?"),
            Turn("usr", "회사에서 혼났어요"),
        ]
    ),
    Dialogue([Turn("usr", "시험에 떨어져서 너무 슬퍼요. 눈물이 멈추지 않아요.")], "슬픔"),
]


def test_emoticons_are_special_tokens_that_replies_keep(tok, model) -> None:
    emoticon_ids = tok.convert_tokens_to_ids(list(KOGPT2_EMOTICONS))
    assert all(tok.added_tokens_decoder[i].special for i in emoticon_ids)
    text = ids(tok, "정말 슬프셨겠어요 ㅠㅠ")
    assert tok.convert_tokens_to_ids("ㅠㅠ") in text
    generated = [*text, UNUSED1, EOS, *ids(tok, "남음")]
    reply = ReplyGenerator(model, tok, max_length=64).clean(generated)
    assert reply.text == "정말 슬프셨겠어요 ㅠㅠ"  # markers and everything after </s> gone, ㅠㅠ kept, no ▁
    assert "ㅠㅠ" not in tok.decode(text, skip_special_tokens=True)  # what skip_special_tokens would do


def test_a_reply_stops_at_the_user_marker(tok, model) -> None:
    generated = [*ids(tok, "힘내세요"), USR, *ids(tok, "고마워요")]
    assert ReplyGenerator(model, tok, max_length=64).clean(generated).text == "힘내세요"


def test_label_response_replies_carry_the_generated_category(tok, model) -> None:
    generator = ReplyGenerator(model, tok, max_length=64, template=TEMPLATES["label_response"])
    reply = generator.clean([*ids(tok, "불안"), UNUSED2, *ids(tok, "괜찮을 거예요"), EOS])
    assert (reply.condition, reply.text) == ("불안", "괜찮을 거예요")


def test_kv_cache_batches_match_a_plain_argmax_loop(tok, model) -> None:
    """Left-padded, batched, cached decoding gives exactly the tokens of a full forward per token."""
    steps = 8
    generator = ReplyGenerator(
        model,
        tok,
        max_length=64,
        settings={"do_sample": False, "max_new_tokens": steps, "min_new_tokens": steps},
    )
    assert generator.config.use_cache
    batched = generator.generate(DIALOGUES)
    one_by_one = [generator.generate([d])[0] for d in DIALOGUES]
    assert batched == one_by_one
    with torch.inference_mode():
        for dialogue, reply in zip(DIALOGUES, batched, strict=True):
            sequence = generator.prompt(dialogue)
            for _ in range(steps):
                logits = model(torch.tensor([sequence])).logits[0, -1]
                logits[generator.stop_ids] = -float("inf")  # as min_new_tokens does
                sequence.append(int(logits.argmax()))
            assert reply == generator.clean(sequence[-steps:])


@pytest.mark.parametrize("preset", ["greedy", "sampling"])
def test_generation_presets_drive_generate(tok, model, preset: str) -> None:
    settings = OmegaConf.to_container(OmegaConf.load(config_dir() / "generation" / f"{preset}.yaml"))
    generator = ReplyGenerator(model, tok, max_length=64, settings=settings)
    torch.manual_seed(1)
    first = generator.generate(DIALOGUES)
    torch.manual_seed(1)
    assert generator.generate(DIALOGUES) == first  # seeded sampling is reproducible
    assert generator.config.do_sample == (preset == "sampling")


def test_finished_replies_drop_out_after_the_first_pass_and_the_rest_go_on_unchanged(
    tok, model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two passes (every reply up to `FIRST_PASS` of the budget, then only the unfinished ones) give
    exactly the replies of one pass over the whole budget, for replies that stop anywhere in it."""
    texts = ["안녕하세요", "오늘 너무 힘들었어요", "시험에 떨어져서 너무 슬퍼요", "배달이 늦었어요 ㅠㅠ",
             "기분이 좋아", "잠이 안 와", "친구랑 싸웠어", "날씨가 좋다"]  # fmt: skip
    dialogues = [Dialogue([Turn("usr", t + "!" * k)]) for k, t in enumerate(texts * 4)]
    settings = {"do_sample": False, "min_new_tokens": 0, "max_new_tokens": 32}
    settings["sequence_bias"] = [[[EOS], 0.8]]  # </s> a little likelier: replies stop all along the budget
    generator = ReplyGenerator(model, tok, max_length=64, settings=settings, batch_size=8)
    two_passes = generator.generate(dialogues)
    lengths = [r.tokens for r in two_passes]
    first = round(32 * generation.FIRST_PASS)
    assert min(lengths) < first and any(first < n < 32 for n in lengths) and max(lengths) == 32
    assert {r.stop for r in two_passes} == {"eos", "max_new_tokens"}
    at_least = ReplyGenerator(
        model, tok, max_length=64, settings={**settings, "min_new_tokens": 20}, batch_size=8
    )
    longer = at_least.generate(dialogues)  # min_new_tokens beyond the first pass carries into the second
    assert min(r.tokens for r in longer) >= 20
    monkeypatch.setattr(generation, "FIRST_PASS", 1.0)
    assert generator.generate(dialogues) == two_passes
    assert at_least.generate(dialogues) == longer
    beams = ReplyGenerator(model, tok, max_length=64, settings={**settings, "num_beams": 2})
    assert not beams._two_passes() and generator._two_passes()  # beams decode in one pass


def test_one_greedy_preset_and_the_evaluation_preset_differs_from_it_by_its_minimum_length(tmp_path) -> None:
    """`conf/generation/greedy.yaml` is the one greedy preset: `GREEDY` is read from it, and the test-time
    replies' preset (`callbacks.test_generations.preset`, `EVALUATION`) is it with `min_new_tokens: 0`
    (a model that can only say `</s>` must show as empty replies), whatever `generation=` a run chooses."""
    from helpers.configs import compose_config

    from maeum.training.test_replies import EVALUATION

    greedy = OmegaConf.to_container(OmegaConf.load(config_dir() / "generation" / "greedy.yaml"))
    assert greedy == generation.GREEDY and greedy["min_new_tokens"] == 1
    assert {k: v for k, v in EVALUATION.items() if greedy.get(k) != v} == {"min_new_tokens": 0}
    for chosen in ("greedy", "sampling"):
        cfg = compose_config("train", tmp_path, ["experiment=chatbot/sample_tiny", f"generation={chosen}"])
        assert OmegaConf.to_container(cfg.callbacks.test_generations.preset) == EVALUATION
    assert (
        OmegaConf.to_container(compose_config("eval", tmp_path).callbacks.test_generations.preset)
        == EVALUATION
    )
