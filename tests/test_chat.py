"""maeum-chat and maeum-export on a chatbot/sample_tiny checkpoint, and the generation samples of its run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import entry_points
from helpers.configs import REPO, compose_config
from helpers.runs import best_checkpoint

from maeum.chat import chat
from maeum.cli import hydra_override
from maeum.data.dialogue.records import Dialogue, Turn
from maeum.errors import MaeumError
from maeum.export import export
from maeum.inference.loading import load_chatbot
from maeum.inference.session import ChatSession, load_responder

pytestmark = pytest.mark.e2e

TURNS = ["안녕하세요", "", "/condition 슬픔", "요즘 너무 힘들어요", "/reset", "시험에 떨어졌어요", "고마워요"]
USER_TURNS = [t for t in TURNS if t and not t.startswith("/")]


@pytest.fixture(scope="module")
def checkpoint(chatbot_run: Path) -> Path:
    return best_checkpoint(chatbot_run)


@pytest.fixture
def turns_file(tmp_path: Path) -> Path:
    path = tmp_path / "turns.txt"
    path.write_text("\n".join(TURNS) + "\n", encoding="utf-8")
    return path


def test_scripted_session_prints_one_reply_per_user_line(checkpoint: Path, turns_file: Path) -> None:
    args = [f"ckpt_path={checkpoint}", f"input={turns_file}", f"paths.root_dir={turns_file.parent}"]
    proc = entry_points.run("maeum.chat", *args, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    replies = proc.stdout.splitlines()
    assert len(replies) == len(USER_TURNS)  # commands and empty lines answer nothing; logs go to stderr
    assert all(replies)  # min_new_tokens: 1, so no reply is empty
    assert not any(marker in line for line in replies for marker in ("<usr>", "<sys>", "</s>", "▁"))


def test_an_exported_directory_chats_like_its_checkpoint(checkpoint: Path, turns_file: Path, capsys) -> None:
    out = export(compose_config("export", turns_file.parent, [f"ckpt_path={checkpoint}"]))
    assert out == checkpoint.with_name(f"{checkpoint.stem}-hf")
    assert json.loads((out / "maeum.json").read_text(encoding="utf-8"))["max_length"] == 128
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == "gpt2"
    replies = {}
    for name, path in (("ckpt", checkpoint), ("hf", out)):
        answers = chat(
            compose_config("chat", turns_file.parent, [f"ckpt_path={path}", f"input={turns_file}"])
        )
        replies[name] = [a.reply for a in answers]
    assert replies["hf"] == replies["ckpt"] and len(replies["ckpt"]) == len(USER_TURNS)
    assert capsys.readouterr().out.splitlines() == [str(out), *replies["ckpt"], *replies["hf"]]


def test_sampling_with_a_condition_from_the_command_line(checkpoint: Path, turns_file: Path) -> None:
    condition = hydra_override("condition=기쁨", free_text=("condition",))  # what maeum-chat's main does
    overrides = [f"ckpt_path={checkpoint}", f"input={turns_file}", "generation=sampling", condition]
    first = [a.reply for a in chat(compose_config("chat", turns_file.parent, overrides))]
    assert first == [a.reply for a in chat(compose_config("chat", turns_file.parent, overrides))]  # seeded
    assert len(first) == len(USER_TURNS)


def test_session_commands_and_history(checkpoint: Path, capsys) -> None:
    responder = load_responder(checkpoint, settings={"do_sample": False, "max_new_tokens": 4})
    generator = responder.generator
    session = ChatSession(responder)
    session.say("안녕하세요")
    assert [t.speaker for t in session.turns] == ["usr", "sys"]
    assert session.command("/condition 슬픔") == "(condition: 슬픔)" and session.condition == "슬픔"
    assert session.command("/condition") == "(condition: none)" and session.condition is None
    assert "unknown command /oops" in session.command("/oops")
    assert session.command("/reset") == "(history cleared)" and session.turns == []
    assert session.command("/quit") is None
    # a long history stays within max_length, the newest question kept whole
    for _ in range(40):
        session.say("오늘 하루 정말 길고 힘들었어요")
    prompt = generator.prompt(Dialogue([*session.turns, Turn("usr", "잘 자요")], None))
    assert len(prompt) <= generator.max_length and prompt[-1] == generator.tokenizer.convert_tokens_to_ids(
        "<sys>"
    )


def test_a_classifier_is_refused_where_a_chatbot_is_needed(main_run, checkpoint: Path, caplog) -> None:
    classifier = best_checkpoint(main_run[0])
    with pytest.raises(MaeumError, match="a classifier, not a chatbot"):
        load_chatbot(classifier)
    with pytest.raises(MaeumError, match="a chatbot, not a classifier"):
        load_responder(checkpoint, classifier_ckpt=checkpoint)


def test_every_validation_epoch_writes_generation_samples(chatbot_run: Path) -> None:
    text = (chatbot_run / "generation_samples.txt").read_text(encoding="utf-8")
    epochs = [line for line in text.splitlines() if line.startswith("=== epoch")]
    assert [e.split()[2] for e in epochs] == ["0", "1", "2"]  # no sanity-check section
    assert text.count("  reference: ") == 3 * 7  # every validation dialogue (7 of the sample), every epoch
    tables = list(chatbot_run.glob("wandb/offline-run-*/files/media/table/val/samples_*.table.json"))
    assert len(tables) == 3
    table = json.loads(tables[0].read_text(encoding="utf-8"))
    assert table["columns"][:6] == ["epoch", "step", "condition", "prompt", "reference", "reply"]
    assert len(table["data"]) == 7


def test_a_missing_input_file_is_one_message(checkpoint: Path, tmp_path: Path, caplog) -> None:
    with pytest.raises(SystemExit):
        chat(compose_config("chat", tmp_path, [f"ckpt_path={checkpoint}", f"input={tmp_path / 'none.txt'}"]))
    assert any("none.txt: file not found" in r.getMessage() for r in caplog.records)
