"""W&B runs offline unless credentials exist; WANDB_MODE always wins; nothing ever prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from maeum.runtime import wandb_mode

pytestmark = pytest.mark.unit


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for key in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    return monkeypatch


def test_offline_without_credentials(clean_env: pytest.MonkeyPatch) -> None:
    assert wandb_mode() == "offline"


def test_online_with_an_api_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"


def test_online_after_wandb_login(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "x" * 40 + "\n")
    netrc.chmod(0o600)
    assert wandb_mode() == "online"


def test_wandb_mode_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("WANDB_API_KEY", "x" * 40)
    clean_env.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"
