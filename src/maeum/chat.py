"""`maeum-chat`: talk with a trained model, from a checkpoint (`maeum-train`) or an export (`maeum-export`).

    maeum-chat ckpt_path=CHATBOT                             # a chatbot (condition=슬픔, generation=sampling)
    maeum-chat ckpt_path=CHATBOT classifier_ckpt=CLASSIFIER  # emotion-aware: each turn's emotion conditions
    maeum-chat ckpt_path=CLASSIFIER                          # retrieval (wellness): a category's response
    maeum-chat ... input=turns.txt [output_format=jsonl]     # a user turn per line in, an answer per line out

Commands: `/reset` (forget the history), `/condition TEXT` (an empty TEXT clears it; with a classifier it
overrides the predicted emotion), `/quit`; an empty line is ignored, and EOF ends the session. The history
is kept and truncated like training dialogues. Answers go to stdout, one per line (the reply, or with
`output_format=jsonl` one JSON object); logs go to stderr. See `maeum.inference.session` for the three
responders.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from omegaconf import DictConfig

from maeum.cli import hydra_main
from maeum.errors import MaeumError
from maeum.inference.responders import Answer
from maeum.inference.session import COMMANDS, ChatSession, responder_from
from maeum.runtime import extras, read_lines, task_wrapper

OUTPUT_FORMATS = ("plain", "jsonl")


def run_lines(
    session: ChatSession, lines: Iterable[str], *, interactive: bool = False, output_format: str = "plain"
) -> list[Answer]:
    """Feed user lines to a session and print each answer on its own line (see the module docstring)."""
    answers = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("/"):
            message = session.command(line)
            if message is None:
                break
            if interactive:
                print(message, flush=True)
            continue
        answer = session.say(line)
        if output_format == "jsonl":
            shown = json.dumps(answer.record, ensure_ascii=False)
        else:
            shown = f"[{answer.tag}] {answer.reply}" if interactive and answer.tag else answer.reply
        print(shown, flush=True)
        answers.append(answer)
    return answers


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
def chat(cfg: DictConfig) -> list[Answer]:
    """Run `maeum-chat` (see the module docstring); return the answers."""
    extras(cfg)
    if cfg.output_format not in OUTPUT_FORMATS:
        raise MaeumError(
            f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, not '{cfg.output_format}'"
        )
    session = ChatSession(responder_from(cfg), condition=cfg.get("condition"), history=cfg.get("history"))
    if cfg.get("input"):
        lines = read_lines(cfg.input, "one user turn")
        return run_lines(session, lines, output_format=cfg.output_format)
    return run_lines(
        session, _prompted_lines(session.condition), interactive=True, output_format=cfg.output_format
    )


@hydra_main("chat", free_text=("condition", "fallback"))
def main(cfg: DictConfig) -> None:
    chat(cfg)


if __name__ == "__main__":
    main()
