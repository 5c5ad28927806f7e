"""`maeum-chat`: talk with a chatbot trained by `maeum-train` (a checkpoint) or exported by `maeum-export`.

    maeum-chat ckpt_path=CKPT                       # interactive, greedy
    maeum-chat ckpt_path=CKPT condition=슬픔 generation=sampling
    maeum-chat ckpt_path=EXPORTED_DIR input=turns.txt   # one user turn per line in, one reply per line out

Commands: `/reset` (forget the history), `/condition TEXT` (an empty TEXT clears it), `/quit`; an empty
line is ignored, and EOF ends the session. The history is kept and truncated like training dialogues:
the oldest exchanges go first, so the prompt fits the run's `max_length`. Replies go to stdout, one per
line; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import seed_everything
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from maeum.backbones import load_model, load_tokenizer
from maeum.callbacks import load_run_config
from maeum.data.dialogue import Dialogue, Template, Turn, template_from
from maeum.errors import MaeumError
from maeum.generation import Reply, ReplyGenerator
from maeum.models.chat_lm import ChatLM
from maeum.paths import config_dir
from maeum.runtime import extras, quote_free_text, read_lines, task_wrapper

log = logging.getLogger(__name__)

EXPORT_META = "maeum.json"  # what maeum-export adds to a Hugging Face directory: template, max_length
COMMANDS = "/reset, /condition TEXT, /quit"


def load_generator(
    path: str | Path,
    *,
    settings: Mapping[str, Any] | None = None,
    device: str = "cpu",
    max_length: int | None = None,
    template: Template | str | Mapping[str, Any] | None = None,
    batch_size: int = 32,
) -> ReplyGenerator:
    """A `ReplyGenerator` for a maeum checkpoint (`.ckpt`) or a Hugging Face directory.

    The template and `max_length` come from the run config (a checkpoint) or `maeum.json` (an export);
    arguments that are not None override them. A plain Hugging Face directory gets `chat` and 128.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        model = load_model(str(path), causal_lm=True)
        tokenizer = load_tokenizer(str(path))
        meta_file = path / EXPORT_META
        meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
        saved_template, saved_length = meta.get("template", "chat"), meta.get("max_length", 128)
    else:
        model, tokenizer, saved_template, saved_length = load_chatbot_checkpoint(path, device)
    return ReplyGenerator(
        model.to(device).eval(),
        tokenizer,
        max_length=max_length or saved_length,
        template=template_from(template if template is not None else saved_template),
        settings=settings,
        batch_size=batch_size,
    )


def load_chatbot_checkpoint(
    path: str | Path, device: str = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, Template, int]:
    """The causal LM, tokenizer, template and `max_length` of a `ChatLM` checkpoint (maeum-train's)."""
    run_cfg = load_run_config(path)
    model_class = get_class(run_cfg.model._target_)
    if not issubclass(model_class, ChatLM):
        raise MaeumError(
            f"{path}: a {model_class.__name__} checkpoint, not a chatbot (ChatLM): maeum-chat and "
            "maeum-export take chatbots; use maeum-predict for classifiers."
        )
    model = model_class.load_from_checkpoint(path, map_location=device, pretrained=False).model
    tokenizer = load_tokenizer(run_cfg.data.tokenizer)
    return model, tokenizer, template_from(run_cfg.data.template), run_cfg.data.max_length


class ChatSession:
    """A conversation: the history so far, the condition, and the commands that change them."""

    def __init__(self, generator: ReplyGenerator, condition: str | None = None, history: bool = True) -> None:
        self.generator, self.condition, self.keep_history = generator, condition or None, history
        self.turns: list[Turn] = []

    def say(self, text: str) -> Reply:
        """The bot's reply to one user turn, which joins the history with the reply."""
        turns = [*self.turns, Turn("usr", text)]
        (reply,) = self.generator.generate([Dialogue(turns, self.condition)])
        if self.keep_history:
            self.turns = [*turns, Turn("sys", reply.text)]
        return reply

    def command(self, line: str) -> str | None:
        """Run a `/command`; return what to tell the user, or None for `/quit`."""
        name, _, arg = line.partition(" ")
        if name == "/reset":
            self.turns = []
            return "(history cleared)"
        if name == "/condition":
            self.condition = arg.strip() or None
            return f"(condition: {self.condition or 'none'})"
        if name == "/quit":
            return None
        return f"(unknown command {name}; commands: {COMMANDS})"


def run_lines(session: ChatSession, lines: Iterable[str], *, interactive: bool = False) -> list[str]:
    """Feed user lines to a session and print each reply on its own line (see the module docstring)."""
    replies = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("/"):
            answer = session.command(line)
            if answer is None:
                break
            if interactive:
                print(answer, flush=True)
            continue
        reply = session.say(line)
        shown = f"[{reply.condition}] {reply.text}" if interactive and reply.condition else reply.text
        print(shown, flush=True)
        replies.append(reply.text)
    return replies


def _prompted_lines(condition: str | None) -> Iterable[str]:
    print(f"Type a message; commands: {COMMANDS}. Ctrl-D ends.", file=sys.stderr, flush=True)
    if condition:
        print(f"(condition: {condition})", file=sys.stderr, flush=True)
    while True:
        try:
            yield input("> ")
        except EOFError:
            print(file=sys.stderr)
            return


@task_wrapper
def chat(cfg: DictConfig) -> list[str]:
    """Run `maeum-chat` (see the module docstring); return the replies."""
    extras(cfg)
    if cfg.get("seed") is not None:
        seed_everything(cfg.seed, verbose=False)  # reproducible sampling
    settings = OmegaConf.to_container(cfg.generation, resolve=True)
    generator = load_generator(
        cfg.ckpt_path, settings=settings, device=cfg.device, max_length=cfg.get("max_length"),
        template=cfg.get("template"),
    )  # fmt: skip
    history = cfg.history if cfg.get("history") is not None else not generator.template.condition_is_target
    session = ChatSession(generator, condition=cfg.get("condition"), history=history)
    if cfg.get("input"):
        return run_lines(session, read_lines(cfg.input, "one user turn"))
    return run_lines(session, _prompted_lines(session.condition), interactive=True)


def export_meta(template: Template, max_length: int) -> dict[str, Any]:
    """What `maeum.json` holds, so that an exported directory chats exactly like its checkpoint."""
    return {"template": asdict(template), "max_length": max_length}


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="chat")
def _hydra_main(cfg: DictConfig) -> None:
    chat(cfg)


def main() -> None:
    sys.argv = [sys.argv[0], *(quote_free_text(arg, keys=("condition",)) for arg in sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
