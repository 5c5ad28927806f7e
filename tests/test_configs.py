"""Every shipped config composes, every experiment and debug preset runs, and the experiments are what
Hydra composes them into: their groups (`hydra.runtime.choices`), learning rates and tiny twins."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from helpers import corpora as fx
from helpers.configs import CONF, REPO, SHARED_DATA, compose_config
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from maeum.train import train

EXPERIMENTS = sorted(
    str(p.relative_to(CONF / "experiment").with_suffix("")) for p in CONF.glob("experiment/**/*.yaml")
)
# A hub experiment's tiny twin inherits it, so running the twin runs the recipe; the hub one is composed only.
# The twin of `<corpus>_kogpt2` (`_kobert`) is `<corpus>_tiny`; of `<corpus>_qwen3_lora`,
# `<corpus>_qwen3_tiny_lora`.
HUB_SUFFIXES = {"_kobert": "_tiny", "_kogpt2": "_tiny", "_qwen3_lora": "_qwen3_tiny_lora"}
TWINNED = {e for e in EXPERIMENTS for hub in HUB_SUFFIXES if e.endswith(hub)}


def twin_of(hub_experiment: str) -> str:
    (hub,) = [h for h in HUB_SUFFIXES if hub_experiment.endswith(h)]
    return hub_experiment.removesuffix(hub) + HUB_SUFFIXES[hub]


def is_tiny(experiment: str) -> bool:
    return experiment.endswith(("_tiny", "_tiny_lora"))


RUNNABLE = [e for e in EXPERIMENTS if e not in TWINNED]
OFFLINE = {
    "kobert": "tiny_bert",
    "klue_bert": "tiny_bert",
    "kcbert": "tiny_bert",
    "kogpt2": "tiny_gpt2",
    "qwen3_0_6b": "tiny_qwen3",
    "korean_gpt2_small": "tiny_gpt2",  # built by scripts/pretrain_korean.sh: the same architecture
    "korean_bert_small": "tiny_bert",
}  # twins
# experiments whose recipe has its own learning rate, not their backbone's (`backbone.lr`)
PINNED_LR = {
    "chatbot/wellness_kogpt2": 3e-5,  # the wellness chatbot recipe's, below kogpt2's 5e-5
    "pretrain/korean_gpt2_small": 2e-3,  # pretraining from scratch, not fine-tuning: its own rate
    "pretrain/korean_bert_small": 2e-3,
    # DPO moves from its SFT start at a tenth of the SFT rate or less (full fine-tuning: far less)
    **dict.fromkeys(
        [f"preference/{corpus}_tiny" for corpus in ("chatbotdata", "xpersona_ko", "aihub_emotion")]
        + ["preference/chatbotdata_korean_gpt2_small", "preference/xpersona_ko_korean_gpt2_small"],
        1e-4,
    ),
    "preference/aihub_emotion_kogpt2": 5e-6,
    "preference/chatbotdata_qwen3_lora": 5e-5,
    "preference/chatbotdata_qwen3_tiny_lora": 1e-4,
}
# tiny twin -> the full-size experiment it inherits (`- /experiment/<full>` in its defaults)
TWINS = {twin_of(full): full for full in TWINNED}


@functools.cache
def composed(experiment: str, *overrides: str) -> DictConfig:
    """`experiment=<experiment>` composed with its Hydra config (`cfg.hydra.runtime.choices`: the group
    options chosen, after the experiment's own and its parents' overrides). Cached: read, never change."""
    return compose_config(
        "train", REPO / "logs" / "unused", [f"experiment={experiment}", *overrides], return_hydra_config=True
    )


def options(group: str) -> list[str]:
    return sorted(str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).glob("**/*.yaml"))


@pytest.mark.unit
@pytest.mark.parametrize(
    "override",
    [
        f"{group}={name}"
        for group in ("data", "backbone", "trainer", "callbacks", "debug", "local")
        for name in options(group)
        if not name.startswith(("template/", "rejected/"))  # parts of a data config, not data configs
    ]
    + [f"logger={name}" for name in options("logger")],
)
def test_every_config_option_composes_and_resolves(train_cfg, override: str) -> None:
    cfg = train_cfg(override)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    # only what a user must give is left open: corpus files, the chatbot that self-play plays against, the
    # classifier of contrastive pairs (and a bare early_stopping's metric)
    assert set(OmegaConf.missing_keys(cfg)) <= {
        "data.path",
        "data.reader",
        "data.rejected.chatbot",
        "data.rejected.emotion_classifier",
        "callbacks.early_stopping.monitor",
    }


@pytest.mark.unit
@pytest.mark.parametrize("root", sorted(p.stem for p in CONF.glob("*.yaml")))
def test_every_entry_point_config_composes_and_resolves(root: str, tmp_path: Path) -> None:
    """Only `ckpt_path` (and train's corpus-free defaults) is left for the user of each entry point."""
    cfg = compose_config(root, tmp_path)
    OmegaConf.to_container(cfg, resolve=False)
    assert set(OmegaConf.missing_keys(cfg)) <= {"ckpt_path"}
    if root == "demo":  # loopback by default, and every preset the page offers is a generation config
        assert cfg.server_name == "127.0.0.1" and cfg.preset in cfg.presets
        assert set(cfg.presets) == {p.stem for p in (CONF / "generation").glob("*.yaml")}


@pytest.mark.unit
def test_every_hub_experiment_has_an_offline_twin_that_inherits_it() -> None:
    assert {"emotion/sample_tiny", "chatbot/sample_tiny"} <= set(EXPERIMENTS)
    assert TWINNED
    for name in TWINNED:
        twin = twin_of(name)
        assert twin in RUNNABLE
        assert f"/experiment/{name}" in (CONF / "experiment" / f"{twin}.yaml").read_text(encoding="utf-8")


# the Qwen3 LoRA twins share one recipe (about 30 s each): one runs by default, the rest under -m slow; so
# do the leaderboard grids whose recipe a chatbot experiment runs already (the same data, layout, model and
# offline backbone; they differ in the mask, length and sweep), and two of the four korean_gpt2_small grids
SLOW_RUNS = {e for e in RUNNABLE if e.endswith("_qwen3_tiny_lora")} - {"chatbot/chatbotdata_qwen3_tiny_lora"}
SLOW_RUNS |= {
    "leaderboard/aihub_emotion_tiny",  # chatbot/aihub_emotion_tiny
    "leaderboard/chatbotdata_tiny",  # chatbot/chatbotdata_tiny
    "leaderboard/xpersona_ko_tiny",  # chatbot/xpersona_ko_tiny
    "leaderboard/chatbotdata_korean_gpt2_small",  # its _scratch twin runs, and xpersona_ko_korean_gpt2_small
    "leaderboard/xpersona_ko_korean_gpt2_small_scratch",
    "preference/chatbotdata_korean_gpt2_small",  # preference/chatbotdata_tiny on the same architecture
    "preference/xpersona_ko_korean_gpt2_small",  # preference/xpersona_ko_tiny
    "preference/sample_tiny",  # tests/test_preference.py and test_resume.py train it
    "preference/aihub_emotion_tiny",  # preference/chatbotdata_tiny's recipe on the 감성대화 reader
}


@pytest.mark.e2e
@pytest.mark.parametrize(
    "experiment", [pytest.param(e, marks=pytest.mark.slow) if e in SLOW_RUNS else e for e in RUNNABLE]
)
def test_every_experiment_runs_a_fast_dev_run(train_cfg, tmp_path: Path, experiment: str) -> None:
    """Each offline experiment as shipped (a hub experiment runs as its tiny twin, which inherits it) on a
    fixture of its corpus."""
    choices = composed(experiment).hydra.runtime.choices
    backbone, data = choices.backbone, choices.data.split("/")[-1]
    if backbone.startswith("tiny_qwen") and not (SHARED_DATA / "chat-tokenizers").is_dir():
        pytest.skip(
            f"{backbone} needs the real Qwen tokenizer, and {SHARED_DATA / 'chat-tokenizers'} is absent"
        )
    overrides = [f"experiment={experiment}", "debug=fdr", f"backbone={OFFLINE.get(backbone, backbone)}"]
    if data in fx.BY_DATA_CONFIG:  # dialogue corpora share the classification corpora's files
        write, suffix = fx.BY_DATA_CONFIG[data]
        path = write(tmp_path / f"corpus{suffix}", copies=20)
        overrides += [f"data.path={path}", "data.test_path=null"]
    if choices.data.startswith("text/"):  # pretraining: a Korean text fixture, the backbone's own tokenizer
        path = fx.korean_text(tmp_path / "말뭉치 (fixture).txt")
        overrides += [f"data.path='{path}'", f"data.tokenizer={backbone}", "data.val_fraction=0.2"]
        overrides.append("data.test_fraction=0.1")
    if choices.trainer == "gpu":
        overrides.append("trainer=cpu")
    metrics = train(train_cfg(*overrides))
    if choices.data.startswith("text/"):
        assert metrics["test/bpc"] > 0
        return
    assert 0 <= metrics.get("test/acc", metrics.get("test/response_acc", -1)) <= 1


@pytest.mark.unit
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_follows_its_backbones_learning_rate_and_tiny_ones_train_in_fp32(
    experiment: str,
) -> None:
    """`backbone=...` changes the rate (`model.optimizer.lr: ${backbone.lr}`) unless the recipe pins its own;
    tiny experiments train on CPU in fp32 (measured: bf16 autocast does not pay at this size)."""
    cfg = composed(experiment)
    assert cfg.model.optimizer.lr == PINNED_LR.get(experiment, cfg.backbone.lr)
    # as `backbone.lr=1.5e-4` (or another backbone) on the command line; the model's own node, unresolved
    other = OmegaConf.create({"backbone": {"lr": 1.5e-4}, "model": OmegaConf.to_container(cfg.model)})
    assert other.model.optimizer.lr == PINNED_LR.get(experiment, 1.5e-4)
    if is_tiny(experiment):
        assert cfg.hydra.runtime.choices.backbone.startswith("tiny_") and cfg.trainer.precision == "32-true"


@pytest.mark.unit
@pytest.mark.parametrize(("twin", "full"), sorted(TWINS.items()))
def test_a_tiny_twin_is_its_full_size_experiment_on_a_tiny_backbone(twin: str, full: str) -> None:
    """A twin changes the backbone (and so the learning rate), the trainer (CPU, fp32), the epochs and the
    tags; the data recipe, the model, the monitor, the callbacks and any sweep are the full-size one's."""
    tiny, big = composed(twin), composed(full)
    hub, backbone = big.hydra.runtime.choices.backbone, tiny.hydra.runtime.choices.backbone
    assert backbone == OFFLINE[hub] and tiny.hydra.runtime.choices.trainer == "default"
    assert list(tiny.tags) == [backbone if tag == hub else tag for tag in big.tags]
    moved = composed(full, f"backbone={backbone}", "trainer=default")

    def resolved(cfg: DictConfig, key: str) -> Any:
        node = OmegaConf.select(cfg, key)
        return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node

    for key in ("data", "monitor", "callbacks", "seed", "hydra.sweeper.params"):
        assert resolved(tiny, key) == resolved(moved, key), key
    model, expected = resolved(tiny, "model"), resolved(moved, "model")
    # a pinned full-size rate is not the tiny one's: the twin's backbone's, or the twin's own pinned rate
    assert model["optimizer"].pop("lr") == PINNED_LR.get(twin, tiny.backbone.lr)
    expected["optimizer"].pop("lr")
    assert model == expected
    trainer, expected = resolved(tiny, "trainer"), resolved(moved, "trainer")
    assert trainer.pop("max_epochs") >= expected.pop("max_epochs") and trainer == expected


@pytest.mark.unit
def test_data_dir_is_data_where_you_launch_unless_the_machine_or_the_run_says(tmp_path: Path) -> None:
    """`paths.data_dir`: `<where you launch>/data` by default (`~local`: whatever this machine's own
    conf/local/default.yaml says); conf/local/example.yaml (as that file, or `local=example`) points it at
    ../shared/data; the command line wins. The tests' configs point it at `SHARED_DATA`."""

    def data_dir(*overrides: str) -> str:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
            cfg = compose("train", overrides=[f"paths.root_dir={tmp_path}", *overrides])
        return cfg.paths.data_dir

    assert data_dir("~local") == f"{tmp_path}/data"
    assert data_dir("local=example") == f"{tmp_path}/../shared/data"
    assert data_dir("local=example", "paths.data_dir=/corpora") == "/corpora"
    hg_tods = compose_config("train", tmp_path, ["experiment=leaderboard/hg_tods_tiny"])
    assert Path(hg_tods.data.path).parent.parent == Path(hg_tods.paths.data_dir)  # the tests' SHARED_DATA


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
