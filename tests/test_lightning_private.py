"""Lightning's private names that exact resume reads (`maeum.training.lightning_private`): all there on the
installed Lightning, in the layout the resume code expects, on a minor the suite and `pyproject.toml` name;
a Lightning without one is refused in one line that names the installed and the tested versions."""

from __future__ import annotations

import re

import pytest
import pytorch_lightning
from helpers.configs import REPO
from packaging.version import Version
from pytorch_lightning import Trainer

from maeum.errors import MaeumError
from maeum.training import lightning_private as private

pytestmark = pytest.mark.unit


def _trainer() -> Trainer:
    return Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )


def test_every_private_name_resume_reads_is_there_on_a_tested_minor() -> None:
    trainer = _trainer()
    assert private.missing(trainer) == []
    private.check(trainer)
    state = trainer.fit_loop.state_dict()  # the fit loop's progress as checkpoints hold it
    assert set(private.PROGRESS) <= set(state)
    container, counter = private.BATCHES_STEPPED
    assert counter in state[container]
    version = Version(pytorch_lightning.__version__)
    assert f"{version.major}.{version.minor}" in private.TESTED


def test_pyproject_pins_the_tested_minors() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    low, high = re.search(r'"pytorch-lightning>=([\d.]+),<([\d.]+)"', pyproject).groups()
    assert Version(low).release[:2] == Version(private.TESTED[0]).release
    newest = Version(private.TESTED[-1])
    assert Version(high) == Version(f"{newest.major}.{newest.minor + 1}")


def test_a_lightning_without_one_is_refused_naming_the_installed_and_tested_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a release that renamed the fit loop's loader-state hand-over would be."""
    trainer = _trainer()
    monkeypatch.delattr(type(trainer.fit_loop), "_load_combined_loader_states")
    with pytest.raises(MaeumError) as refused:
        private.check(trainer)
    message = str(refused.value)
    assert (
        f"pytorch-lightning {pytorch_lightning.__version__} lacks FitLoop._load_combined_loader_states"
        in message
    )
    assert "tested with pytorch-lightning 2.5.x and 2.6.x" in message and "\n" not in message
