"""The layout interface from the outside: a third layout, written in a user's own module, trains a chatbot
through every part of maeum that lays dialogues out (the DataModule, the test-time replies, loading), with
no change to maeum; and the factory is the one place that picks a layout."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.configs import REPO
from helpers.runs import best_checkpoint

from maeum.data.dialogue.layout import Layout, layout_for, template_from
from maeum.data.dialogue.records import TEMPLATES, Dialogue, Turn
from maeum.errors import DataError

# Roles written as plain text, for a base LM without chat markers: "사용자: ...\n상담사: ...</s>"
TOY = """
from dataclasses import dataclass
from typing import ClassVar

from maeum.data.dialogue.layout import Layout, Rendered, Span


@dataclass(frozen=True)
class PlainRoles:
    layout: ClassVar[str] = "toy_layout.PlainRolesLayout"
    user: str = "사용자"
    system: str = "상담사"


class PlainRolesLayout(Layout):
    describe = "plain-text roles"

    def _text_ids(self, text):
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def render(self, turns, condition, *, prompt=False):
        names = {"usr": self.template.user, "sys": self.template.system}
        ids = self._text_ids(f"(감정: {condition})") if condition else []
        spans = []
        for n, turn in enumerate(turns):
            ids += self._text_ids(f" {names[turn.speaker]}:")
            begin = len(ids)
            ids += self.pieces(turn)
            if turn.speaker == "sys":
                ids.append(self.tokenizer.eos_token_id)
                spans.append(Span(n // 2, begin, len(ids)))
        if prompt:
            ids += self._text_ids(f" {names['sys']}:")
        return Rendered(ids, spans)

    def stops(self):
        return {self.tokenizer.eos_token_id: "eos"}

    def reply(self, ids):
        return " ".join(self.tokenizer.decode(list(ids), skip_special_tokens=True).split()), None
"""


@pytest.fixture
def toy_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "toy_layout.py").write_text(textwrap.dedent(TOY), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("toy_layout", None)


@pytest.mark.e2e
def test_a_third_layout_in_a_users_module_trains_tests_and_loads(train_cfg, toy_layout: Path) -> None:
    from maeum.inference.loading import load_chatbot
    from maeum.inference.session import ChatSession, load_responder
    from maeum.train import train

    overrides = [
        "experiment=chatbot/sample_tiny",
        "trainer.max_epochs=1",
        "logger=csv",
        "~data.template",
        "+data.template._target_=toy_layout.PlainRoles",
        "data.label_mask=all_sys",
    ]
    metrics = train(train_cfg(*overrides))
    assert 0 <= metrics["test/response_acc"] <= 1 and "test/gen/empty_rate" in metrics
    run_dir = toy_layout  # train_cfg writes under tmp_path
    assert (run_dir / "test_generations.csv").is_file() and (run_dir / "generation_samples.txt").is_file()
    chatbot = load_chatbot(best_checkpoint(run_dir))
    assert type(chatbot.template).__name__ == "PlainRoles"
    assert type(layout_for(chatbot.template, chatbot.tokenizer)).__name__ == "PlainRolesLayout"
    reply = ChatSession(load_responder(str(best_checkpoint(run_dir)))).say("요즘 너무 힘들어 ㅠㅠ")
    assert isinstance(reply.reply, str)


@pytest.mark.unit
def test_the_factory_builds_each_shipped_template_and_refuses_what_names_no_layout() -> None:
    from maeum.backbones import load_tokenizer

    tok = load_tokenizer("tiny_gpt2")
    for name, template in TEMPLATES.items():
        assert template_from(name) is template
        assert isinstance(layout_for(name, tok), Layout)
    with pytest.raises(DataError, match="names no layout"):
        template_from(object())
    with pytest.raises(DataError, match="unknown dialogue template 'gemma'"):
        template_from("gemma")
    rendered = layout_for("chat", tok).render([Turn("usr", "안녕"), Turn("sys", "반가워요")], "기쁨")
    assert [s.turn for s in rendered.spans] == [0] and rendered.spans[0].end == len(rendered.ids)
    assert Dialogue([Turn("usr", "안녕")]).turns[0].speaker == "usr"


@pytest.mark.unit
def test_only_the_factory_asks_which_layout_a_template_is() -> None:
    """`grep -rn isinstance src/maeum | grep -i template` finds nothing outside the layout factory."""
    found = subprocess.run(
        ["grep", "-rn", "isinstance", str(REPO / "src" / "maeum")],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    asking = [line for line in found if "template" in line.lower() and "dialogue/layout.py" not in line]
    assert not asking, asking
