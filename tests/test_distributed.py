"""Lightning's distributed engines and Hydra's launchers, as far as a CPU-only machine allows.

`trainer=ddp_sim` (two gloo processes) really trains; FSDP, DeepSpeed and SLURM need GPUs or a cluster, so
their configs are composed and their strategy and launcher objects built, as a GPU run would build them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers.configs import NO_DROPOUT, compose_config
from helpers.runs import epoch_metrics, train_subprocess
from hydra.utils import instantiate
from omegaconf import OmegaConf
from transformers.models.bert.modeling_bert import BertLayer
from transformers.models.gpt2.modeling_gpt2 import GPT2Block

from maeum.paths import resource


@pytest.mark.e2e
def test_ddp_sim_trains_as_one_process_with_the_same_global_batch(tmp_path: Path, ddp_sim_run) -> None:
    """Two gloo processes of batch 8 (`ddp_sim_run`, `helpers.configs.DDP_SIM`) and one process of batch 16:
    the same rows per step (one seeded permutation, split over the processes), so the same validation and
    test metrics, within 1e-4. The CSV logger records both fit and test (it used to fail when the test
    metrics were appended)."""
    common = ["trainer.max_epochs=3", "callbacks.early_stopping.patience=100", *NO_DROPOUT]
    one = epoch_metrics(train_subprocess(tmp_path / "one", "data.batch_size=16", *common))
    ddp = ddp_sim_run.result()  # started with the session: it ran beside the SLURM runs, if any
    two = epoch_metrics(ddp)
    assert {"val/acc", "val/f1_macro", "val/loss", "test/acc", "test/f1_macro", "test/loss"} <= set(one)
    assert set(one) == set(two)
    for name in one:
        assert one[name].keys() == two[name].keys(), name
        for epoch, value in one[name].items():
            assert two[name][epoch] == pytest.approx(value, abs=1e-4), (name, epoch)
    per_class = (ddp / "per_class.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert sum(int(row.rsplit(",", 1)[1]) for row in per_class) == 36  # both ranks' test rows, no padding
    with resource("emotion_sample.tsv").open(encoding="utf-8") as f:
        truth = {row["text"]: row["label"] for row in csv.DictReader(f, delimiter="\t")}
    with (ddp / "errors.csv").open(encoding="utf-8") as f:
        errors = list(csv.DictReader(f))
    assert errors and all(truth[row["text"]] == row["label"] for row in errors)  # aligned after the gather
    log = (ddp / "train.log").read_text(encoding="utf-8")
    assert log.count("Splits {") == 1  # each rank reads the corpus; rank 1's info lines are not logged


@pytest.mark.unit
@pytest.mark.parametrize(
    ("experiment", "block"), [("emotion/sample_tiny", BertLayer), ("chatbot/sample_tiny", GPT2Block)]
)
def test_fsdp_wraps_and_checkpoints_the_backbones_blocks(
    experiment: str, block: type, tmp_path: Path
) -> None:
    cfg = compose_config("train", tmp_path, [f"experiment={experiment}", "trainer=fsdp"])
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    strategy = instantiate(cfg.trainer.strategy)
    assert type(strategy).__name__ == "FSDPStrategy"
    # each block is one FSDP unit and one activation-checkpointing unit; read from the model, not the config
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {block}
    assert strategy._activation_checkpointing_kwargs["auto_wrap_policy"]._module_classes == {block}


@pytest.mark.unit
def test_deepspeed_and_ddp_compose_for_gpus(tmp_path: Path) -> None:
    ddp = compose_config("train", tmp_path, ["trainer=ddp", "trainer.devices=8", "trainer.num_nodes=2"])
    assert (ddp.trainer.strategy, ddp.trainer.devices, ddp.trainer.num_nodes) == ("ddp", 8, 2)
    deepspeed = compose_config("train", tmp_path, ["trainer=deepspeed"])
    assert deepspeed.trainer.strategy.stage == 2 and deepspeed.trainer.plugins is None
    pytest.importorskip("deepspeed", reason="maeum[deepspeed] is not installed")
    assert type(instantiate(deepspeed.trainer.strategy)).__name__ == "DeepSpeedStrategy"


@pytest.mark.unit
def test_slurm_launcher_takes_nodes_and_gpus_from_the_trainer(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from maeum.paths import config_dir

    launcher = ["hydra.launcher.partition=a100", "hydra.launcher.timeout_min=120"]
    launcher.append("hydra.launcher.mem_gb=200")
    overrides = ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=8", "trainer.num_nodes=2", *launcher]
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"] == "hydra_plugins.maeum_launcher.MaeumSlurmLauncher"
    assert (launcher["nodes"], launcher["gpus_per_node"], launcher["tasks_per_node"]) == (2, 8, 8)
    assert (launcher["partition"], launcher["timeout_min"], launcher["mem_gb"]) == ("a100", 120, 200)
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cpu = compose(
            "train", overrides=["hydra/launcher=slurm_cpu", "trainer=ddp_sim"], return_hydra_config=True
        )
    cpu_launcher = OmegaConf.to_container(cpu.hydra.launcher, resolve=True)
    assert cpu_launcher["_target_"] == launcher["_target_"] and cpu_launcher["partition"] == "cpu"
    assert (cpu_launcher["nodes"], cpu_launcher["gpus_per_node"], cpu_launcher["tasks_per_node"]) == (
        1,
        None,
        2,
    )
