"""`maeum-demo`: a web page to talk to a trained model, a thin Gradio shell over `maeum.inference.session`.

    maeum-demo ckpt_path=CHATBOT                             # a chatbot
    maeum-demo ckpt_path=CHATBOT classifier_ckpt=CLASSIFIER  # emotion-aware: the page shows each emotion
    maeum-demo ckpt_path=CLASSIFIER                          # retrieval (wellness): it shows the category

The page has a multi-turn chat panel with a reset button, the detected emotion (or category) with its
probabilities, and the choice of generation preset (`conf/generation`). It answers exactly like
`maeum-chat`, through the same `ChatSession`. It binds 127.0.0.1 unless `server_name=` says otherwise;
messages longer than `max_input_chars` are answered with a notice and never reach the model; the queue
runs `concurrency_limit` requests at once. The named endpoint `/chat` answers one message, no history:
`gradio_client.Client(url).predict("오늘 힘들었어", api_name="/chat")`. Needs `pip install "maeum[demo]"`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from maeum.cli import hydra_main
from maeum.data.dialogue.records import Turn
from maeum.errors import MaeumError
from maeum.inference.responders import Answer, GeneratorResponder, Responder, RetrievalResponder
from maeum.inference.session import ChatSession, responder_from
from maeum.runtime import extras, task_wrapper

log = logging.getLogger(__name__)
FONTS = ["Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", "NanumGothic", "sans-serif"]  # no web fonts


def too_long(n: int, limit: int) -> str:
    """The answer to a message over `max_input_chars`."""
    return f"메시지가 너무 길어요 ({n}자). {limit}자 이내로 보내 주세요. (too long: {n} > {limit} characters)"


def panel_value(answer: Answer, condition: str | None) -> dict[str, float] | str:
    """What the emotion panel shows: the classifier's probabilities, else the condition the reply had."""
    if answer.probs is not None:
        return answer.probs
    return f"조건: {answer.record.get('condition') or condition or '없음'}"


def build_demo(
    responders: Mapping[str, Responder],
    *,
    preset: str,
    max_input_chars: int = 500,
    title: str = "마음 (maeum)",
    condition: str | None = None,
    history: bool | None = None,
) -> Any:
    """The Gradio Blocks app over `responders` (one per generation preset, all sharing one model)."""
    gr = _gradio()
    if preset not in responders:
        raise MaeumError(f"preset={preset} is not one of the presets {', '.join(responders)}")
    classifies = not isinstance(responders[preset], GeneratorResponder)
    panel_title = "감지된 감정 / 카테고리 (detected emotion)" if classifies else "조건 (condition)"

    def answer(message: str, turns: list[Turn], name: str) -> tuple[str, list[Turn], Any]:
        if len(message) > max_input_chars:
            return too_long(len(message), max_input_chars), turns, None
        session = ChatSession(responders[name], condition=condition, history=history, turns=list(turns))
        result = session.say(message)
        return result.reply, session.turns, panel_value(result, condition)

    def respond(message: str, chat: list[dict[str, Any]], turns: list[Turn], name: str) -> tuple[Any, ...]:
        message = (message or "").strip()
        if not message:
            return chat, turns, gr.skip(), ""
        reply, turns, panel = answer(message, turns, name)
        chat = [*chat, {"role": "user", "content": message}, {"role": "assistant", "content": reply}]
        return chat, turns, gr.skip() if panel is None else panel, ""

    def chat_api(message: str) -> str:
        """One user message, answered alone (no history) with the page's default preset."""
        return answer(message.strip(), [], preset)[0]

    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        gr.Markdown(f"## {title}\n마음을 이야기해 주세요. Enter로 보내고, '새 대화'로 처음부터 시작합니다.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="대화 (chat)", elem_id="chat", height=420)
                message = gr.Textbox(
                    placeholder="메시지를 입력하세요 (Enter)",
                    show_label=False,
                    elem_id="message",
                    lines=1,
                    max_length=None,
                    autofocus=True,
                )
                with gr.Row():
                    send = gr.Button("보내기 (send)", variant="primary", elem_id="send")
                    reset = gr.Button("새 대화 (reset)", elem_id="reset")
            with gr.Column(scale=2):
                panel = gr.Label(label=panel_title, elem_id="emotion", num_top_classes=5)
                choice = gr.Radio(
                    list(responders),
                    value=preset,
                    label="생성 방식 (generation preset)",
                    elem_id="preset",
                    visible=len(responders) > 1,
                )
        turns = gr.State([])
        io = {"inputs": [message, chat, turns, choice], "outputs": [chat, turns, panel, message]}
        message.submit(respond, **io, api_visibility="private")
        send.click(respond, **io, api_visibility="private")
        reset.click(lambda: ([], [], None), None, [chat, turns, panel], api_visibility="private")
        chat.clear(lambda: ([], None), None, [turns, panel], api_visibility="private")  # the panel's bin
        gr.api(chat_api, api_name="chat")
    return demo


@task_wrapper
def demo(cfg: DictConfig) -> None:
    """Serve the page (see the module docstring) until interrupted."""
    extras(cfg)
    app = app_from(cfg)
    theme = _gradio().themes.Default(font=FONTS, font_mono=["monospace"])
    log.info("Serving %s on http://%s:%s", cfg.ckpt_path, cfg.server_name, cfg.server_port or "7860+")
    app.launch(server_name=cfg.server_name, server_port=cfg.server_port, theme=theme, show_error=True)


def app_from(cfg: DictConfig) -> Any:
    """The queued Gradio app that `cfg` (`conf/demo.yaml`) describes, not yet launched."""
    presets = OmegaConf.to_container(cfg.presets, resolve=True)
    if cfg.preset not in presets:
        raise MaeumError(f"preset={cfg.preset} is not one of the presets {', '.join(presets)}")
    if cfg.max_input_chars < 1 or cfg.concurrency_limit < 1:
        raise MaeumError("max_input_chars and concurrency_limit must be at least 1")
    base = responder_from(cfg, presets[cfg.preset])
    if isinstance(base, RetrievalResponder):  # nothing is generated: no preset to choose
        responders = {cfg.preset: base}
    else:
        responders = {name: base.with_generation(settings) for name, settings in presets.items()}
    app = build_demo(
        responders,
        preset=cfg.preset,
        max_input_chars=cfg.max_input_chars,
        title=cfg.title,
        condition=base.known.resolve(cfg.get("condition") or None),
        history=cfg.get("history"),
    )
    return app.queue(default_concurrency_limit=cfg.concurrency_limit, max_size=cfg.max_queue)


def _gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home
    try:
        import gradio
    except ImportError as err:
        raise MaeumError('maeum-demo needs Gradio: pip install "maeum[demo]"') from err
    return gradio


@hydra_main("demo", free_text=("condition", "fallback", "title"))
def main(cfg: DictConfig) -> None:
    demo(cfg)


if __name__ == "__main__":
    main()
