"""Every shipped config composes, and every experiment and debug preset runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import corpora as fx
from omegaconf import OmegaConf

from maeum.paths import config_dir
from maeum.train import train

CONF = config_dir()
EXPERIMENTS = sorted(
    str(p.relative_to(CONF / "experiment").with_suffix("")) for p in CONF.glob("experiment/**/*.yaml")
)
OFFLINE = {
    "kobert": "tiny_bert",
    "klue_bert": "tiny_bert",
    "kcbert": "tiny_bert",
    "kogpt2": "tiny_gpt2",
}  # twins


def options(group: str) -> list[str]:
    return sorted(str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).glob("**/*.yaml"))


@pytest.mark.unit
@pytest.mark.parametrize(
    "override",
    [
        f"{group}={name}"
        for group in ("data", "backbone", "trainer", "callbacks", "debug")
        for name in options(group)
    ]
    + [f"logger={name}" for name in options("logger")],
)
def test_every_config_option_composes_and_resolves(train_cfg, override: str) -> None:
    cfg = train_cfg(override)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    # only what a user must give is left open: corpus files (and a bare early_stopping's metric)
    assert set(OmegaConf.missing_keys(cfg)) <= {
        "data.path",
        "data.reader",
        "callbacks.early_stopping.monitor",
    }


@pytest.mark.unit
@pytest.mark.parametrize("root", sorted(p.stem for p in CONF.glob("*.yaml")))
def test_every_entry_point_config_composes_and_resolves(root: str, tmp_path: Path) -> None:
    """Only `ckpt_path` (and train's corpus-free defaults) is left for the user of each entry point."""
    from helpers.configs import compose_config

    cfg = compose_config(root, tmp_path)
    OmegaConf.to_container(cfg, resolve=False)
    assert set(OmegaConf.missing_keys(cfg)) <= {"ckpt_path"}
    if root == "demo":  # loopback by default, and every preset the page offers is a generation config
        assert cfg.server_name == "127.0.0.1" and cfg.preset in cfg.presets
        assert set(cfg.presets) == {p.stem for p in (CONF / "generation").glob("*.yaml")}


@pytest.mark.unit
def test_every_hub_experiment_has_an_offline_twin() -> None:
    assert {"emotion/sample_tiny", "chatbot/sample_tiny"} <= set(EXPERIMENTS)
    for name in EXPERIMENTS:
        for hub in ("_kobert", "_kogpt2"):
            if name.endswith(hub):
                assert name.replace(hub, "_tiny") in EXPERIMENTS


def experiment_text(name: str) -> str:
    """An experiment's YAML followed by the YAML of the experiments it starts from."""
    text = (CONF / "experiment" / f"{name}.yaml").read_text(encoding="utf-8")
    return text + "".join(experiment_text(base) for base in re.findall(r"- /experiment/([\w/]+)", text))


@pytest.mark.e2e
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_a_fast_dev_run(train_cfg, tmp_path: Path, experiment: str) -> None:
    """Each experiment as shipped, on its tiny twin's backbone (no hub here) and a fixture of its corpus."""
    text = experiment_text(experiment)
    backbone = re.search(r"override /backbone: (\w+)", text).group(1)
    data = re.search(r"override /data: \w+/(\w+)", text).group(1)
    overrides = [f"experiment={experiment}", "debug=fdr", f"backbone={OFFLINE.get(backbone, backbone)}"]
    if data in fx.BY_DATA_CONFIG:  # dialogue corpora share the classification corpora's files
        write, suffix = fx.BY_DATA_CONFIG[data]
        path = write(tmp_path / f"corpus{suffix}", copies=20)
        overrides += [f"data.path={path}", "data.test_path=null"]
    if "trainer: gpu" in text:
        overrides.append("trainer=cpu")
    metrics = train(train_cfg(*overrides))
    assert 0 <= metrics.get("test/acc", metrics.get("test/response_acc", -1)) <= 1


@pytest.mark.e2e
@pytest.mark.parametrize("preset", ["fdr", "overfit", "limit", "profiler"])
def test_debug_presets_run(train_cfg, preset: str) -> None:
    shorten = ["trainer.max_epochs=2"] if preset in ("overfit", "limit") else []
    metrics = train(train_cfg(f"debug={preset}", *shorten))
    assert metrics["test/acc"] >= 0


@pytest.mark.e2e
def test_overfitting_a_few_batches_drives_the_loss_down(train_cfg) -> None:
    metrics = train(train_cfg("debug=overfit", "test=false"))
    assert metrics["train/loss_epoch"] < 0.1


@pytest.mark.unit
def test_cpu_trainer_takes_bf16_only_where_the_cpu_has_it(train_cfg, monkeypatch) -> None:
    import torch

    from maeum.runtime import cpu_precision

    assert train_cfg("trainer=cpu").trainer.precision == cpu_precision()
    # the CPU's answer decides: AMX or AVX512-BF16 gives bf16-mixed, neither gives fp32
    for amx, avx512_bf16, expected in [(True, False, "bf16-mixed"), (False, True, "bf16-mixed"),
                                       (False, False, "32-true")]:  # fmt: skip
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        assert cpu_precision() == expected


@pytest.mark.unit
@pytest.mark.parametrize("name", [e for e in EXPERIMENTS if e.endswith("_tiny")])
def test_tiny_experiments_train_in_fp32(train_cfg, name: str) -> None:
    assert train_cfg(f"experiment={name}").trainer.precision == "32-true"  # measured: bf16 does not pay
