"""maeum-demo: the Gradio page and its /chat endpoint, served for real on loopback and driven by a browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from helpers.configs import REPO, compose_config
from helpers.runs import best_checkpoint

from maeum.data.dialogue.records import Turn
from maeum.demo import app_from, build_demo, too_long
from maeum.inference.responders import FALLBACK, Answer
from maeum.inference.session import load_responder

pytestmark = pytest.mark.e2e

gradio_client = pytest.importorskip("gradio_client", reason="maeum[demo] (gradio) is not installed")
EMOTIONS = ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
MAX_CHARS = 40
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# headless, and no background connections: this machine's network is closed (they would fail at start)
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def _environment_restored() -> Iterator[None]:
    """A page built in this process sets gradio's variables in its environment (`GRADIO_ANALYTICS_ENABLED`,
    `HF_HUB_DISABLE_TELEMETRY`): the entry points of later tests start without them, as a user's do."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def pair(main_run, chatbot_run: Path) -> tuple[Path, Path]:
    return best_checkpoint(chatbot_run), best_checkpoint(main_run[0])


@pytest.fixture(scope="module")
def served(
    main_run, lora_chatbot_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """`maeum-demo` as a user starts it (default bind address), on a free port, with the emotion-aware pair
    of the chat-template chatbot (tiny_llama3 in Llama 3's chat template, LoRA) and the main classifier."""
    chatbot, classifier = best_checkpoint(lora_chatbot_run), best_checkpoint(main_run[0])
    port = free_port()
    cmd = [sys.executable, "-m", "maeum.demo", f"ckpt_path={chatbot}", f"classifier_ckpt={classifier}",
           f"server_port={port}", f"max_input_chars={MAX_CHARS}", "concurrency_limit=2",
           f"paths.root_dir={tmp_path_factory.mktemp('demo')}"]  # fmt: skip
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    proc = subprocess.Popen(cmd, cwd=REPO, env=os.environ.copy(), **pipes)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 180
    while not any("Running on local URL" in line for line in output):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("maeum-demo did not start:\n" + "".join(output))
        time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}/", port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_eight_concurrent_chat_calls_are_all_answered(served: tuple[str, int]) -> None:
    client = gradio_client.Client(served[0], verbose=False)
    messages = [f"{i}번째 메시지: 오늘 너무 힘들었어 ㅠㅠ" for i in range(8)]
    jobs = [client.submit(message, api_name="/chat") for message in messages]
    replies = [job.result(timeout=180) for job in jobs]
    assert len(replies) == 8 and all(isinstance(r, str) and r.strip() for r in replies)


def test_an_over_long_message_is_answered_with_the_notice(served: tuple[str, int]) -> None:
    client = gradio_client.Client(served[0], verbose=False)
    message = "가" * (MAX_CHARS + 1)
    assert client.predict(message, api_name="/chat") == too_long(MAX_CHARS + 1, MAX_CHARS)


def test_the_default_bind_address_is_loopback_only(served: tuple[str, int]) -> None:
    """The kernel's table of listening sockets: the demo's port listens on 127.0.0.1 and nowhere else."""
    port = served[1]
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, little-endian; no 0.0.0.0, no ::


@pytest.mark.parametrize("mode", ["chatbot", "emotion-aware", "retrieval"])
def test_each_way_to_talk_is_served(mode: str, pair, wellness, tmp_path: Path) -> None:
    """maeum-demo's app for a chatbot, a chatbot with a classifier, and a retrieval classifier alone."""
    chatbot, classifier = pair
    models = {"chatbot": [f"ckpt_path={chatbot}"], "retrieval": [f"ckpt_path={wellness[0]}"],
              "emotion-aware": [f"ckpt_path={chatbot}", f"classifier_ckpt={classifier}"]}  # fmt: skip
    app = app_from(compose_config("demo", tmp_path, models[mode]))
    _, url, _ = app.launch(server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        reply = gradio_client.Client(url, verbose=False).predict("요즘 잠이 안 와요 ㅠㅠ", api_name="/chat")
    finally:
        app.close()
    assert reply.strip()
    if mode == "retrieval":
        bank = load_responder(wellness[0]).bank.responses
        assert reply in {r for texts in bank.values() for r in texts} | {FALLBACK}


class Counting:
    """A responder that counts the user turns that reach it (the model behind it is real)."""

    def __init__(self, responder) -> None:
        self.responder, self.calls = responder, 0
        self.uses_condition, self.keeps_history = responder.uses_condition, responder.keeps_history
        self.known = responder.known

    def respond(self, turns: Sequence[Turn], condition: str | None) -> Answer:
        self.calls += 1
        return self.responder.respond(turns, condition)

    def with_generation(self, settings):
        return self


def test_an_over_long_message_never_reaches_the_model(pair: tuple[Path, Path]) -> None:
    chatbot, classifier = pair
    responder = Counting(load_responder(chatbot, classifier_ckpt=classifier))
    app = build_demo({"greedy": responder}, preset="greedy", max_input_chars=MAX_CHARS)
    app.queue(default_concurrency_limit=2)
    _, url, _ = app.launch(server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = gradio_client.Client(url, verbose=False)
        assert client.predict("나" * 200, api_name="/chat") == too_long(200, MAX_CHARS)
        assert responder.calls == 0
        assert client.predict("오늘 기분이 좋아요", api_name="/chat").strip() and responder.calls == 1
    finally:
        app.close()


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and os.environ.get("CI") != "true",
    reason="no chromium/chromedriver (apt-get install chromium chromium-driver); .ci/run installs them",
)
def test_the_page_answers_in_a_real_browser(
    served: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headless Debian Chromium: type a Korean message, press Enter, read the reply and the emotion."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,820"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)
    try:
        browser.get(served[0])
        wait = WebDriverWait(browser, 120)
        box = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#message textarea"))
        box.send_keys("오늘 회사에서 너무 화가 났어 ㅠㅠ")
        box.send_keys(Keys.ENTER)
        reply = wait.until(
            lambda b: b.find_element(By.CSS_SELECTOR, '#chat [data-testid="bot"]').text.strip()
        )
        emotion = wait.until(lambda b: b.find_element(By.ID, "emotion").text)
        browser.save_screenshot(str(tmp_path / "maeum-demo.png"))
    finally:
        browser.quit()
    assert reply and any(label in emotion for label in EMOTIONS)
    assert (tmp_path / "maeum-demo.png").stat().st_size > 10_000
