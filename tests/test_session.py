"""The three ways to talk to maeum: a chatbot, a classifier in front of it, and the retrieval chatbot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpora as fx
from helpers import entry_points
from helpers.configs import REPO, compose_config
from helpers.runs import best_checkpoint
from hydra.utils import instantiate

from maeum.chat import chat
from maeum.data.dialogue.records import Turn
from maeum.data.splits import normalize_text
from maeum.errors import MaeumError
from maeum.export import export
from maeum.inference.loading import Chatbot, load_classifier
from maeum.inference.prediction import Predictor
from maeum.inference.responders import (
    FALLBACK,
    EmotionAwareResponder,
    GeneratorResponder,
    KnownConditions,
    RetrievalResponder,
)
from maeum.inference.session import ChatSession, load_responder, pair_conditions

EMOTIONS = ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
TURNS = [
    "오늘 회사에서 너무 화가 났어 ㅠㅠ",
    "내일 발표가 걱정돼요...",
    "ㅋㅋㅋ 드디어 합격했어!!",
    "친구가 내 험담을 했대",
]
WELLNESS_TURNS = ["화가 나요 정말로", "우울해요 ㅠㅠ", "잠이 안 와요 ㅋㅋ", "가족 이야기를 하고 싶어요"]


@pytest.fixture(scope="module")
def pair(main_run, chatbot_run: Path) -> tuple[Path, Path]:
    """(chatbot checkpoint, classifier checkpoint): chatbot/sample_tiny and the main job, the bundled pair."""
    return best_checkpoint(chatbot_run), best_checkpoint(main_run[0])


def chat_lines(tmp_path: Path, overrides: list[str], lines: list[str]) -> list[dict]:
    source = tmp_path / "turns.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    answers = chat(compose_config("chat", tmp_path, [*overrides, f"input={source}", "output_format=jsonl"]))
    return [a.record for a in answers]


# ------------------------------------------------------------------------------------------------- conditions
@pytest.mark.e2e
def test_a_condition_is_one_the_chatbot_was_trained_on(pair: tuple[Path, Path]) -> None:
    """`condition=` refuses a condition never seen in training, listing the known ones; `/condition` says
    so and keeps the session's condition. A name stands for its id (ChatbotData with `condition=id`)."""
    chatbot, classifier = pair
    for responder in (load_responder(chatbot), load_responder(chatbot, classifier_ckpt=classifier)):
        assert set(responder.known.conditions) == set(EMOTIONS)
        with pytest.raises(MaeumError, match=r"never trained on the condition '행복함'\. It knows: .*슬픔"):
            ChatSession(responder, condition="행복함")
        session = ChatSession(responder, condition="슬픔")
        message = session.command("/condition 행복함 ㅋㅋ")
        assert "never trained on the condition '행복함 ㅋㅋ'" in message and "stays 슬픔" in message
        assert session.condition == "슬픔"
        assert session.command("/condition 기쁨") == "(condition: 기쁨)" and session.condition == "기쁨"
    ids = KnownConditions(("0", "1"), {"0": "일상다반사", "1": "이별(부정)"})
    assert ids.resolve("이별(부정)") == "1" and ids.resolve("1") == "1" and ids.resolve(None) is None
    with pytest.raises(MaeumError, match=r"It knows: 0 \(일상다반사\), 1 \(이별\(부정\)\)"):
        ids.resolve("사랑(긍정)")
    with pytest.raises(MaeumError, match="trained without conditions"):
        KnownConditions(()).resolve("슬픔")
    assert KnownConditions(None).resolve("아무거나") == "아무거나"  # a chatbot that recorded none


# ---------------------------------------------------------------------------------------------- emotion-aware
@pytest.mark.e2e
def test_every_reply_is_conditioned_on_the_classifiers_top_label(pair: tuple[Path, Path]) -> None:
    chatbot, classifier = pair
    responder = load_responder(chatbot, classifier_ckpt=classifier)
    assert isinstance(responder, EmotionAwareResponder)
    predictor, alone = Predictor.from_path(classifier), GeneratorResponder(responder.generator)
    session = ChatSession(responder)
    for text in TURNS:
        history = session.turns
        answer = session.say(text)
        (top,) = predictor.predict([text])
        assert answer.record["emotion"] == top["label"] == answer.record["condition"]
        assert answer.record["emotion_prob"] == top["probs"][top["label"]] and answer.probs == top["probs"]
        # the generator got exactly that condition: the same reply as asking it directly
        assert answer.reply == alone.respond([*history, Turn("usr", text)], top["label"]).reply
    assert session.command("/condition 기쁨") == "(condition: 기쁨)"
    overridden = session.say(TURNS[0])
    assert overridden.record["condition"] == "기쁨" and overridden.record["emotion"] == "분노"


@pytest.mark.e2e
def test_exported_models_answer_like_their_checkpoints(pair: tuple[Path, Path], tmp_path: Path) -> None:
    chatbot, classifier = pair
    exported = [export(compose_config("export", tmp_path, [f"ckpt_path={c}", f"output_dir={tmp_path / n}"]))
                for c, n in ((chatbot, "chatbot"), (classifier, "classifier"))]  # fmt: skip
    from_checkpoints = chat_lines(tmp_path, [f"ckpt_path={chatbot}", f"classifier_ckpt={classifier}"], TURNS)
    from_exports = chat_lines(tmp_path, [f"ckpt_path={exported[0]}", f"classifier_ckpt={exported[1]}"], TURNS)
    assert from_exports == from_checkpoints


@pytest.mark.e2e
def test_scripted_jsonl_session_from_the_command_line(pair: tuple[Path, Path], tmp_path: Path) -> None:
    chatbot, classifier = pair
    source = tmp_path / "대화.txt"
    source.write_text(
        "\n".join([TURNS[0], "", "/condition 슬픔", *TURNS[1:], "/reset"]) + "\n", encoding="utf-8"
    )
    pair_args = [f"ckpt_path={chatbot}", f"classifier_ckpt={classifier}"]
    args = [*pair_args, f"input='{source}'", "output_format=jsonl", f"paths.root_dir={tmp_path}"]
    proc = entry_points.run("maeum.chat", *args, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["user"] for r in records] == TURNS  # one JSON object per user turn, nothing else on stdout
    assert all(list(r) == ["user", "reply", "emotion", "emotion_prob", "condition"] for r in records)
    assert records[0]["condition"] == records[0]["emotion"] and all(
        r["condition"] == "슬픔" for r in records[1:]
    )
    assert all(r["reply"] and r["emotion"] in EMOTIONS for r in records)


@pytest.mark.e2e
def test_a_label_set_mismatch_is_refused_with_both_sets(pair, wellness, tmp_path: Path, caplog) -> None:
    chatbot, _ = pair
    with pytest.raises(SystemExit):
        chat_lines(tmp_path, [f"ckpt_path={chatbot}", f"classifier_ckpt={wellness[0]}"], TURNS)
    (message,) = [
        r.getMessage() for r in caplog.records if "not all among the chatbot's conditions" in r.getMessage()
    ]
    assert "감정/분노" in message and all(emotion in message for emotion in EMOTIONS)


@pytest.mark.unit
@pytest.mark.parametrize("corpus", ["chatbotdata", "aihub_emotion"])
def test_bundled_classifier_and_chatbot_recipes_pair(corpus: str, tmp_path: Path) -> None:
    """emotion/<corpus>_* labels are among chatbot/<corpus>_* conditions; ChatbotData's ids map to names."""
    write, suffix = fx.BY_DATA_CONFIG[corpus]
    data = write(tmp_path / f"{corpus}{suffix}", copies=6)
    experiments = {
        "chatbotdata": ("chatbotdata_tiny", "chatbotdata_tiny"),
        "aihub_emotion": ("aihub_tiny", "aihub_emotion_tiny"),
    }
    emotion, chatbot = experiments[corpus]
    extra = ["data.reader.condition=id"] if corpus == "chatbotdata" else []  # as in KoGPT2-chatbot
    classify = instantiate(
        compose_config("train", tmp_path, [f"experiment=emotion/{emotion}", f"data.path={data}"]).data
    )
    dialogue = instantiate(
        compose_config("train", tmp_path, [f"experiment=chatbot/{chatbot}", f"data.path={data}", *extra]).data
    )
    kwargs = dialogue.model_kwargs()
    condition_of = pair_conditions(
        classify.labels, Chatbot(None, None, None, 64, **kwargs), "classifier", "chatbot"
    )
    if corpus == "chatbotdata":
        assert condition_of == {"일상다반사": "0", "이별(부정)": "1", "사랑(긍정)": "2"}
    else:
        assert condition_of == {label: label for label in EMOTIONS}


# ---------------------------------------------------------------------------------------------- retrieval
@pytest.mark.e2e
def test_the_response_bank_comes_from_the_training_split(wellness: tuple[Path, Path]) -> None:
    ckpt, run_dir = wellness
    datamodule = instantiate(compose_config("train", run_dir, _wellness_overrides(run_dir)).data)
    corpus = datamodule.corpus
    expected: dict[str, set[str]] = {label: set() for label in corpus.labels}
    for i in corpus.indices["train"]:
        if corpus.examples[i].response:
            expected[corpus.examples[i].label].add(normalize_text(corpus.examples[i].response))
    bank = load_classifier(ckpt).response_bank
    assert {label: set(texts) for label, texts in bank.items()} == expected
    assert bank["배경/가족"] == [] and all(
        "  " not in r and "\n" not in r for texts in bank.values() for r in texts
    )
    held_out = {
        normalize_text(corpus.examples[i].response)
        for split in ("val", "test")
        for i in corpus.indices[split]
    }
    assert not held_out & {r for texts in bank.values() for r in texts}  # every row's response is unique


@pytest.mark.e2e
def test_retrieval_replies_come_from_the_predicted_categorys_bank(wellness, tmp_path: Path) -> None:
    ckpt, _ = wellness
    bank = load_classifier(ckpt).response_bank
    records = chat_lines(tmp_path, [f"ckpt_path={ckpt}"], WELLNESS_TURNS * 3)
    assert len(records) == 12 and all(
        list(r) == ["user", "reply", "category", "category_prob", "fallback"] for r in records
    )
    predicted = Predictor.from_path(ckpt).predict(WELLNESS_TURNS * 3)
    for record, prediction in zip(records, predicted, strict=True):
        assert record["category"] == prediction["label"]
        if bank[record["category"]]:
            assert not record["fallback"] and record["reply"] in bank[record["category"]]
        else:  # a category whose training rows had no response
            assert record["fallback"] and record["reply"] == FALLBACK
    assert chat_lines(tmp_path, [f"ckpt_path={ckpt}"], WELLNESS_TURNS * 3) == records  # seeded draws
    exported = export(
        compose_config("export", tmp_path, [f"ckpt_path={ckpt}", f"output_dir={tmp_path / 'hf'}"])
    )
    assert chat_lines(tmp_path, [f"ckpt_path={exported}"], WELLNESS_TURNS * 3) == records


@pytest.mark.e2e
def test_below_min_confidence_the_fallback_answers(wellness, tmp_path: Path) -> None:
    overrides = [
        f"ckpt_path={wellness[0]}",
        "min_confidence=1.01",
        "fallback='잠시만요, 다시 말씀해 주세요 :)'",
    ]
    records = chat_lines(tmp_path, overrides, WELLNESS_TURNS)
    assert all(r["fallback"] and r["reply"] == "잠시만요, 다시 말씀해 주세요 :)" for r in records)


@pytest.mark.e2e
def test_a_classifier_without_a_bank_names_the_fix(main_run, tmp_path: Path, caplog) -> None:
    with pytest.raises(SystemExit):
        chat_lines(tmp_path, [f"ckpt_path={best_checkpoint(main_run[0])}"], TURNS)
    (message,) = [r.getMessage() for r in caplog.records if "no response bank" in r.getMessage()]
    assert "data=classify/wellness" in message and "classifier_ckpt=" in message


@pytest.mark.e2e
def test_retrieval_session_ignores_conditions(wellness) -> None:
    session = ChatSession(load_responder(wellness[0], seed=1))
    assert isinstance(session.responder, RetrievalResponder) and session.history is False
    assert "takes no condition" in session.command("/condition 기쁨") and session.condition is None
    with pytest.raises(MaeumError, match="is a classifier"):
        load_responder(wellness[0], classifier_ckpt=wellness[0])


def _wellness_overrides(run_dir: Path) -> list[str]:
    (data,) = run_dir.glob("*.xlsx")
    return ["experiment=emotion/wellness_intent_tiny", f"data.path='{data}'"]
