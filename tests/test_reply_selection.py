"""Reply selection (`maeum.training.reply_selection`): a test run's scores against an independent computation
with plain transformers (the marker layout by hand; a chat template's assistant message found by its own
markers), an untrained model at chance, the distractors' draw, ranks with ties, and bad settings. A trained
chatbot's test and its re-test write it too (`tests/test_eval.py`); the leaderboard reads it
(`tests/test_leaderboard_selection.py`)."""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.configs import SHARED_DATA, compose_config
from transformers import AutoModelForCausalLM, AutoTokenizer

from maeum.backbones import build_tiny
from maeum.train import train
from maeum.training.reply_selection import draw_distractors, rank_of

# single-turn test dialogues: (condition, question, reference reply); one has no condition
TEST = (
    ("분노", "택배가 또 엉뚱한 집으로 갔대.", "몇 번씩 그러면 정말 화가 나시겠어요."),
    ("슬픔", "키우던 고양이가 아파서 병원에 입원했어.", "많이 걱정되고 마음이 아프시겠어요."),
    ("불안", "다음 주에 건강검진 결과가 나와.", "결과를 기다리는 동안 마음이 편하지 않으시겠네요."),
    ("기쁨", "동생이 원하던 대학에 붙었어!", "정말 축하해요! 가족 모두 기쁘시겠어요."),
    ("상처", "단톡방에서 나만 빼고 약속을 잡았더라.", "소외된 느낌이 들어 속상하셨겠어요."),
    ("당황", "발표하다가 슬라이드 순서가 엉켰어.", "순간 많이 당황하셨겠어요. 그래도 끝까지 하셨잖아요."),
    (None, "오늘 점심 뭐 먹을지 모르겠어.", "따뜻한 국밥은 어떠세요?"),
)  # fmt: skip
TOKENIZERS = SHARED_DATA / "chat-tokenizers"
needs_qwen = pytest.mark.skipif(not TOKENIZERS.is_dir(), reason=f"no real chat tokenizers at {TOKENIZERS}")
# each chat template's assistant message, from its header to its end of turn, by the family's own markers
ASSISTANT = {
    "tiny_llama3": re.compile(
        r"<\|start_header_id\|>assistant<\|end_header_id\|>\n\n(.*?<\|eot_id\|>)", re.S
    ),
    "tiny_qwen3": re.compile(r"<\|im_start\|>assistant\n(.*?<\|im_end\|>\n)", re.S),
}


def write_dialogues(path: Path, dialogues) -> Path:
    lines = [
        {"condition": c, "turns": [{"speaker": "usr", "text": q}, {"speaker": "sys", "text": r}]}
        for c, q, r in dialogues
    ]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    return path


def untrained_run(run_dir: Path, dialogues, *overrides: str) -> dict[str, float]:
    """The tiny chatbot tested as it is (`train=false`) on `dialogues` (the bundled sample trains nothing),
    with reply selection only."""
    test_file = write_dialogues(run_dir.parent / f"{run_dir.name}-test.jsonl", dialogues)
    job = ["experiment=chatbot/sample_tiny", "train=false", "~logger", f"data.test_path={test_file}",
           "callbacks.test_generations.enabled=false", *overrides]  # fmt: skip
    return train(compose_config("train", run_dir, job))


def candidates(row: pd.Series) -> list[str]:
    k = sum(re.fullmatch(r"distractor_\d+", c) is not None for c in row.index)
    return [row["reference"], *(row[f"distractor_{j}"] for j in range(1, k + 1))]


def mean_logp(model, ids: list[int], targets: list[int]) -> float:
    """The mean log-probability of the tokens at positions `targets` of `ids` (a log-softmax by hand)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    return float(torch.stack([logp[t - 1, ids[t]] for t in targets]).mean())


def marker_score(tok, model, condition: str | None, question: str, reply: str) -> float:
    """`<usr>{question}<unused1>{condition}<sys>{reply}</s>`: the reply's tokens and `</s>` are targets."""
    prompt = f"<usr>{question}" + (f"<unused1>{condition}" if condition else "") + "<sys>"
    ids = tok(prompt + reply + "</s>", add_special_tokens=False)["input_ids"]
    start = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert ids[-1] == tok.convert_tokens_to_ids("</s>") and start < len(ids) - 1
    return mean_logp(model, ids, list(range(start, len(ids))))


def chat_score(tok, model, condition: str | None, question: str, reply: str, *, backbone: str) -> float:
    """The messages by hand, the condition in the system prompt; the targets are the tokens of the last
    assistant message found by the family's own markers (Qwen3: its thinking block, the reply and
    `<|im_end|>\\n`; Llama 3: the reply and `<|eot_id|>`)."""
    system = [{"role": "system", "content": f"사용자의 감정: {condition}"}] if condition else []
    messages = [*system, {"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    text = tok.apply_chat_template(messages, tokenize=False)
    begin, end = list(ASSISTANT[backbone].finditer(text))[-1].span(1)
    encoded = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    targets = [i for i, (a, _) in enumerate(encoded["offset_mapping"]) if begin <= a < end]
    return mean_logp(model, encoded["input_ids"], targets)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "backbone",
    [
        "tiny_gpt2",
        "tiny_llama3",
        pytest.param("tiny_qwen3", marks=[needs_qwen, pytest.mark.slow]),  # 151k tokens: 10 s more
    ],
    ids=["markers", "llama3-chat-template", "qwen3-chat-template"],
)
def test_the_scores_and_hits_are_an_independent_computations(tmp_path: Path, backbone: str) -> None:
    """Every candidate's score to 1e-5, in batches of 3 padded candidates (35 in all), its rank and the
    metrics, against transformers alone; the distractors are K other test replies, distinct. The marker
    layout (tiny GPT-2) and a chat template (tiny Llama 3, and tiny Qwen3 under -m slow)."""
    markers = backbone == "tiny_gpt2"
    template = [] if markers else ["data/template=chat_template"]
    score = marker_score if markers else functools.partial(chat_score, backbone=backbone)
    run_dir = tmp_path / "run"
    metrics = untrained_run(
        run_dir, TEST, f"backbone={backbone}", *template, "callbacks.reply_selection.batch_size=3"
    )
    frame = pd.read_csv(run_dir / "test_selection.csv", keep_default_na=False)
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    assert frame["id"].tolist() == predictions["id"].tolist() and len(frame) == len(TEST)
    path = build_tiny(backbone)  # the directory maeum loads the backbone from
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    hits, ranks = [], []
    for (condition, question, reference), (_, row) in zip(TEST, frame.iterrows(), strict=True):
        texts = candidates(row)
        assert texts[0] == reference and row["condition"] == (condition or "")
        assert len(texts) == 5 and len(set(texts)) == 5 and set(texts) <= {r for _, _, r in TEST}
        expected = [score(tok, model, condition, question, text) for text in texts]
        written = [row["reference_score"], *(row[f"distractor_{j}_score"] for j in range(1, 5))]
        assert [float(s) for s in written] == pytest.approx(expected, abs=1e-5)
        rank = (
            1 + sum(s > expected[0] for s in expected[1:]) + 0.5 * sum(s == expected[0] for s in expected[1:])
        )
        assert float(row["rank"]) == rank and int(row["hit"]) == (rank == 1)
        hits.append(rank == 1)
        ranks.append(rank)
    assert metrics["test/select/hits_at_1"] == pytest.approx(sum(hits) / len(hits), abs=1e-6)
    assert metrics["test/select/mean_rank"] == pytest.approx(sum(ranks) / len(ranks), abs=1e-6)
    about = json.loads((run_dir / "test_selection.json").read_text(encoding="utf-8"))
    assert (about["num_distractors"], about["seed"], about["chance"], about["dialogues"]) == (4, 0, 0.2, 7)
    assert about["metrics"]["hits_at_1"] == pytest.approx(sum(hits) / len(hits)) and about["notes"] == []


def binomial_band(n: int, p: float, level: float = 0.99) -> tuple[int, int]:
    """The central `level` band of Binomial(n, p): the smallest and largest counts it keeps."""
    pmf = [math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(n + 1)]
    tail = (1 - level) / 2
    low = next(x for x in range(n + 1) if sum(pmf[: x + 1]) > tail)
    high = next(x for x in range(n, -1, -1) if sum(pmf[x:]) > tail)
    return low, high


def synthetic_dialogues(n: int = 250) -> list[tuple[str, str, str]]:
    """`n` single-turn Korean dialogues, every question and reply distinct, replies unrelated to questions."""
    who = ["친구", "동생", "엄마", "아빠", "팀장", "선생님", "이웃", "동료", "언니", "선배"]
    what = [
        "약속을 또 잊어버렸어",
        "내 생일을 챙겨 줬어",
        "갑자기 연락을 끊었어",
        "내 물건을 망가뜨렸어",
        "새 직장을 구했대",
        "이사를 간대",
        "선물을 보내 줬어",
        "나한테 화를 냈어",
        "시험에 떨어졌대",
        "결혼한대",
        "아프다고 연락이 왔어",
        "돈을 안 갚아",
        "여행을 같이 가재",
        "내 비밀을 말했어",
        "상을 받았대",
        "회사를 그만뒀대",
        "나를 칭찬해 줬어",
        "거짓말을 했어",
        "고양이를 데려왔어",
        "운전면허를 땄대",
        "집들이에 초대했어",
        "늦게까지 안 들어왔어",
        "내 말을 무시했어",
        "전화를 안 받아",
        "케이크를 만들어 줬어",
    ]
    feel = [
        "그랬군요.",
        "마음이 복잡하시겠어요.",
        "정말 기쁘시겠어요.",
        "서운하셨겠어요.",
        "놀라셨겠네요.",
        "걱정이 많으시겠어요.",
        "고마운 일이네요.",
        "속상하셨겠어요.",
        "화가 나셨겠어요.",
        "다행이에요.",
    ]
    then = [
        "천천히 이야기해 보세요.",
        "잠시 쉬어 가도 괜찮아요.",
        "직접 물어보는 건 어때요?",
        "축하 인사를 전해 보세요.",
        "기록해 두시면 좋겠어요.",
        "믿을 만한 사람과 상의해 보세요.",
        "오늘은 푹 주무세요.",
        "산책을 해 보세요.",
        "감사 인사를 해 보세요.",
        "조금 기다려 보는 것도 방법이에요.",
        "솔직한 마음을 전해 보세요.",
        "따뜻한 차 한잔 어떠세요?",
        "맛있는 걸 드셔 보세요.",
        "거리를 두는 것도 괜찮아요.",
        "함께 계획을 세워 보세요.",
        "응원하고 있을게요.",
        "스스로를 탓하지 마세요.",
        "좋은 추억이 되겠네요.",
        "작은 선물을 준비해 보세요.",
        "답장을 기다려 보세요.",
        "다음엔 미리 말해 보세요.",
        "음악을 들어 보세요.",
        "편지를 써 보세요.",
        "운동으로 풀어 보세요.",
        "일기를 써 보세요.",
    ]
    questions = [f"{w}가 {x}." for w in who for x in what][:n]
    replies = [f"{f} {t}" for t in then for f in feel][:n]
    conditions = ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
    shift = 97  # replies far from their question's position: no accidental pattern with the questions
    return [(conditions[i % 6], q, replies[(i * shift) % n]) for i, q in enumerate(questions)]


@pytest.mark.e2e
def test_an_untrained_model_ranks_at_chance(tmp_path: Path) -> None:
    """The tiny GPT-2 as built (random weights) over 250 test dialogues: hits@1 of 1+4 candidates lies
    within the 99% binomial band around 1/5."""
    dialogues = synthetic_dialogues()
    assert len({r for _, _, r in dialogues}) == len({q for _, q, _ in dialogues}) == 250
    metrics = untrained_run(tmp_path / "run", dialogues)
    frame = pd.read_csv(tmp_path / "run" / "test_selection.csv")
    assert len(frame) == 250 and frame["hit"].mean() == pytest.approx(metrics["test/select/hits_at_1"])
    low, high = binomial_band(250, 1 / 5)
    assert low / 250 <= metrics["test/select/hits_at_1"] <= high / 250, (low, high)
    assert 2.5 < metrics["test/select/mean_rank"] < 3.5  # chance: 3 of 1..5


@pytest.mark.e2e
def test_a_limited_test_ranks_the_prefix_it_tested_against_the_whole_split(tmp_path: Path) -> None:
    """`trainer.limit_test_batches=1` with 3 dialogues a batch: the first 3 dialogues, under the ids of
    test_predictions.csv, their distractors drawn from every test reply as an unlimited test draws them."""
    untrained_run(tmp_path / "run", TEST, "data.eval_batch_size=3", "+trainer.limit_test_batches=1")
    frame = pd.read_csv(tmp_path / "run" / "test_selection.csv", keep_default_na=False)
    predictions = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert frame["id"].tolist() == predictions["id"].tolist() and len(frame) == 3
    references = [r for _, _, r in TEST]
    drawn = draw_distractors(references, references, 4, seed=0)[:3]
    assert [candidates(row)[1:] for _, row in frame.iterrows()] == drawn
    about = json.loads((tmp_path / "run" / "test_selection.json").read_text(encoding="utf-8"))
    assert (about["dialogues"], about["test_dialogues"]) == (3, 7)


@pytest.mark.unit
def test_distractors_are_drawn_once_per_seed_from_the_other_distinct_replies() -> None:
    pool = ["좋아요.", "좋아요.", "힘내세요.", "고마워요.", "좋아요.", "그렇군요.", "잘했어요.", "미안해요."]
    drawn = draw_distractors(pool, pool, 4, seed=0)
    assert drawn == draw_distractors(pool, pool, 4, seed=0) != draw_distractors(pool, pool, 4, seed=1)
    for reference, distractors in zip(pool, drawn, strict=True):
        assert len(distractors) == 4 and len(set(distractors)) == 4 and reference not in distractors
        assert set(distractors) <= set(pool)
    assert draw_distractors(pool[:3], pool, 4, seed=0) == drawn[:3]  # a capped test ranks the same first rows
    assert sorted(draw_distractors(["가"], ["가", "나", "다"], 4, seed=0)[0]) == ["나", "다"]  # fewer: all
    counts = {text: 0 for text in set(pool)}  # uniform over the distinct texts, whatever their repeats
    for distractors in draw_distractors(["힘내세요."] * 6000, pool, 1, seed=3):
        counts[distractors[0]] += 1
    shares = [counts[t] / 6000 for t in set(pool) - {"힘내세요."}]
    assert all(abs(share - 1 / 5) < 0.03 for share in shares) and counts["힘내세요."] == 0


@pytest.mark.unit
def test_a_tie_counts_half_and_nan_counts_as_minus_infinity() -> None:
    assert rank_of(-1.0, [-2.0, -3.0, -4.0, -5.0]) == 1
    assert rank_of(-3.0, [-2.0, -3.0, -4.0, -1.0]) == 1 + 2 + 0.5
    assert rank_of(math.nan, [-2.0, math.nan]) == 1 + 1 + 0.5
    assert rank_of(-1.0, [math.nan]) == 1


@pytest.mark.e2e
def test_too_few_replies_is_a_note_and_one_reply_a_warning(tmp_path: Path, caplog) -> None:
    """Three distinct test replies: two distractors each, and a note with the real chance; one reply for
    every test dialogue: nothing to rank, said once."""
    untrained_run(tmp_path / "few", TEST[:3])
    about = json.loads((tmp_path / "few" / "test_selection.json").read_text(encoding="utf-8"))
    (note,) = about["notes"]
    assert "3 of 3 dialogue(s) have fewer than 4 distractors" in note and "chance is 0.3333" in note
    frame = pd.read_csv(tmp_path / "few" / "test_selection.csv", keep_default_na=False)
    assert (frame["distractor_3"] == "").all() and frame["distractor_3_score"].eq("").all()
    assert frame["distractor_2"].ne("").all()
    same = [(c, q, "좋아요.") for c, q, _ in TEST[:3]]
    with caplog.at_level("WARNING"):
        metrics = untrained_run(tmp_path / "one", same)
    assert caplog.text.count("Reply selection is skipped") == 1 and "test/select/hits_at_1" not in metrics
    assert not (tmp_path / "one" / "test_selection.csv").exists()


@pytest.mark.unit
@pytest.mark.parametrize("setting", ["num_distractors=0", "batch_size=0", "max_dialogues=0"])
def test_a_setting_below_one_is_one_error_naming_its_key(tmp_path: Path, caplog, setting: str) -> None:
    cfg = compose_config(
        "train", tmp_path, ["experiment=chatbot/sample_tiny", f"callbacks.reply_selection.{setting}"]
    )
    with pytest.raises(SystemExit):
        train(cfg)
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    key, value = setting.split("=")
    assert error.startswith(f"callbacks.reply_selection.{key} must be 1 or more") and value in error
