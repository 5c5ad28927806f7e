"""End-to-end: the main job beats its baseline and keeps its outputs; resume, multirun, one-message errors."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers.configs import compose_config
from helpers.runs import trained_epochs
from omegaconf import DictConfig, OmegaConf

from maeum.errors import MaeumError
from maeum.models.classifier import EmotionClassifier
from maeum.runs.kinds import model_config
from maeum.runtime import check_argument_types
from maeum.train import train


@pytest.mark.e2e
def test_main_job_beats_the_majority_baseline(main_run: tuple[Path, dict[str, float]]) -> None:
    _, metrics = main_run
    assert metrics["test/acc"] > metrics["test/majority_acc"] + 0.2
    assert metrics["test/f1_macro"] > metrics["test/majority_f1_macro"] + 0.2


@pytest.mark.e2e
def test_main_job_keeps_config_checkpoints_and_logs(main_run: tuple[Path, dict[str, float]]) -> None:
    run_dir, _ = main_run
    saved = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert "${" not in saved  # resolved
    assert yaml.safe_load(saved)["data"]["labels"] == ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
    assert list(run_dir.glob("wandb/offline-run-*"))
    (best,) = run_dir.glob("checkpoints/epoch_*.ckpt")
    last = run_dir / "checkpoints" / "last.ckpt"
    best_state = torch.load(best, map_location="cpu", weights_only=True)  # plain data: safe to load
    last_state = torch.load(last, map_location="cpu", weights_only=True)
    assert last_state["epoch"] == max(trained_epochs(run_dir)) >= best_state["epoch"]
    assert best_state["hyper_parameters"]["labels"] == ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
    assert best_state["maeum"]["config"]["model"]["_target_"] == "maeum.models.classifier.EmotionClassifier"


@pytest.mark.e2e
def test_resume_from_last_continues_at_the_next_epoch(train_cfg, tmp_path: Path) -> None:
    quick = ["logger=csv", "callbacks.early_stopping.patience=100"]
    first = train_cfg(*quick, "trainer.max_epochs=2")
    train(first)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1

    resumed_dir = tmp_path / "resumed"
    resumed = compose_config("train", resumed_dir, [*quick, "trainer.max_epochs=4", f"ckpt_path={last}"])
    train(resumed)
    assert trained_epochs(resumed_dir) == [2, 3]
    state = torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["epoch"] == 3
    assert state["global_step"] == 2 * torch.load(last, weights_only=True)["global_step"]


@pytest.mark.unit
def test_the_encoder_trains_with_dropout_on(train_cfg) -> None:
    cfg: DictConfig = train_cfg()
    model = EmotionClassifier(backbone="tiny_bert", labels=["a", "b"], optimizer=cfg.model.optimizer)
    assert all(module.training for module in model.modules())


@pytest.mark.e2e
def test_optimizer_exempts_biases_and_norms_from_weight_decay(train_cfg) -> None:
    cfg = train_cfg("debug=fdr")
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    model = instantiate(model_config(cfg), **datamodule.model_kwargs())
    trainer = instantiate(cfg.trainer)
    trainer.fit(model, datamodule=datamodule)
    decay, no_decay = trainer.optimizers[0].param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    named = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim >= 2 for p in decay["params"])
    assert {named[id(p)] for p in no_decay["params"]} >= {
        "net.head.bias",
        "net.encoder.embeddings.LayerNorm.weight",
        "net.encoder.embeddings.LayerNorm.bias",
    }
    assert "net.encoder.embeddings.word_embeddings.weight" in {named[id(p)] for p in decay["params"]}
    assert type(trainer.lr_scheduler_configs[0].scheduler).__name__ == "LambdaLR"


@pytest.mark.unit
def test_bad_data_path_ends_the_run_with_one_message(train_cfg, tmp_path: Path, caplog) -> None:
    missing = tmp_path / "nope.tsv"
    with pytest.raises(SystemExit) as exit_info:
        train(train_cfg("logger=csv", f"data.path={missing}"))
    assert exit_info.value.code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        f"{missing}: file not found. Set data.path to an existing corpus file (configs that name a shipped "
        "corpus look under paths.data_dir: set it, or use local=example)."
    ]


@pytest.mark.e2e
@pytest.mark.slow  # a multirun runs by default in tests/test_leaderboard.py (masks x seeds, one job each)
def test_multirun_runs_one_job_per_value(tmp_path: Path) -> None:
    """`python -m maeum.train -m trainer.max_epochs=1,2`, run from tmp_path with the default sweep dir."""
    cmd = [sys.executable, "-m", "maeum.train", "-m", "trainer.max_epochs=1,2", "logger=csv", "test=false"]
    proc = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    for job, epochs in (("0", [0]), ("1", [0, 1])):
        assert trained_epochs(sweep / job) == epochs
        config = yaml.safe_load((sweep / job / "config.yaml").read_text())
        assert config["trainer"]["max_epochs"] == len(epochs)
        assert config["paths"]["output_dir"] == str(sweep / job)


@pytest.mark.e2e
def test_learning_rate_warms_up_over_ten_percent_then_decays(main_run: tuple[Path, dict[str, float]]) -> None:
    """Linear warmup over 10% of all planned steps (30 epochs x 11 batches), then cosine decay."""
    run_dir, _ = main_run
    (metrics,) = run_dir.glob("csv/version_*/metrics.csv")
    with metrics.open() as f:
        lrs = [(int(r["step"]), float(r["lr-AdamW/pg1"])) for r in csv.DictReader(f) if r.get("lr-AdamW/pg1")]
    peak_step, peak_lr = max(lrs, key=lambda s_lr: s_lr[1])
    assert abs(peak_step - 33) <= 5  # logged every 5 steps
    assert peak_lr == pytest.approx(2e-3, rel=0.05)  # backbone.lr of tiny_bert
    assert lrs[0][1] < 0.2 * peak_lr and lrs[-1][1] < peak_lr
    after = [lr for step, lr in lrs if step > peak_step]
    assert after == sorted(after, reverse=True)


@pytest.mark.e2e
def test_test_reports_land_in_the_run_dir_and_in_wandb(main_run: tuple[Path, dict[str, float]]) -> None:
    run_dir, metrics = main_run
    per_class = list(csv.DictReader((run_dir / "per_class.csv").open(encoding="utf-8")))
    assert [row["label"] for row in per_class] == ["분노", "슬픔", "불안", "상처", "당황", "기쁨"]
    assert sum(int(row["support"]) for row in per_class) == 36
    errors = list(csv.DictReader((run_dir / "errors.csv").open(encoding="utf-8")))
    assert len(errors) == round((1 - metrics["test/acc"]) * 36)
    assert all(row["label"] != row["predicted"] and row["text"] for row in errors)
    assert (run_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (media,) = run_dir.glob("wandb/offline-run-*/files/media")
    assert list(media.glob("images/test/confusion_matrix_*.png"))
    assert list(media.glob("table/test/per_class_*.table.json")) and list(
        media.glob("table/test/errors_*.table.json")
    )


@pytest.mark.e2e
def test_class_weighted_loss_uses_inverse_train_frequency(train_cfg) -> None:
    cfg = train_cfg()
    model = EmotionClassifier(
        backbone="tiny_bert", labels=["a", "b", "c"], optimizer=cfg.model.optimizer,
        class_weighted=True, class_counts=[30, 10, 0],
    )  # fmt: skip
    assert model.criterion.weight.tolist() == pytest.approx([40 / 90, 40 / 30, 0.0])
    unweighted = EmotionClassifier(backbone="tiny_bert", labels=["a", "b"], optimizer=cfg.model.optimizer)
    assert unweighted.criterion.weight is None
    assert train(train_cfg("debug=fdr", "model.class_weighted=true"))["test/acc"] >= 0


@pytest.mark.unit
def test_confusion_matrix_draws_every_hangul_label() -> None:
    """NanumGothic covers the label names: drawing them raises no missing-glyph warning."""
    import warnings

    import matplotlib

    from maeum.training.reports import confusion_matrix_figure

    labels = ["분노", "슬픔", "불안", "상처", "당황", "기쁨", "감정/감정조절이상", "사랑(긍정)"]
    target = torch.arange(len(labels))
    before = dict(matplotlib.rcParams)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # matplotlib reports a missing glyph as a UserWarning
        confusion_matrix_figure(target, target, labels).canvas.draw()
    assert dict(matplotlib.rcParams) == before  # no global matplotlib setting changed


@pytest.mark.unit
def test_a_wrongly_typed_setting_is_named_before_anything_is_built(train_cfg) -> None:
    """Checked against the `_target_`'s signature: Lightning's Literal precisions, maeum's own floats."""
    with pytest.raises(MaeumError, match=r"trainer\.precision='bf16-mix' is not one of .*bf16-mixed"):
        check_argument_types(train_cfg("trainer.precision=bf16-mix"), ["trainer"])
    with pytest.raises(MaeumError, match=r"model\.dropout='많이 ㅋㅋ' is not a number"):
        check_argument_types(train_cfg("model.dropout='많이 ㅋㅋ'"), ["model"])
    with pytest.raises(MaeumError, match=r"trainer\.max_epochs=2\.5 is not an integer or null"):
        check_argument_types(train_cfg("trainer.max_epochs=2.5"), ["trainer"])
    # the settings every DataModule passes to its base (`**settings`: `SplitSettings`) are checked too
    cfg = train_cfg("experiment=chatbot/sample_tiny", "data.batch_size='서른둘'")
    with pytest.raises(MaeumError, match=r"data\.batch_size='서른둘' is not an integer, which .*batch_size"):
        check_argument_types(cfg, ["data"])
    for experiment in ("emotion/sample_tiny", "chatbot/sample_tiny"):  # what the configs set passes
        check_argument_types(train_cfg(f"experiment={experiment}"), ["data", "model", "trainer"])


@pytest.mark.unit
def test_the_best_validation_value_survives_a_resume(train_cfg) -> None:
    """`val/f1_macro_best` rides in the checkpoint; the resumed fit forgets its sanity check, not the best."""
    optimizer = train_cfg().model.optimizer
    trained = EmotionClassifier(backbone="tiny_bert", labels=["a", "b"], optimizer=optimizer)
    trained.val_f1_best.update(0.7)
    checkpoint: dict = {}
    trained.on_save_checkpoint(checkpoint)
    resumed = EmotionClassifier(backbone="tiny_bert", labels=["a", "b"], optimizer=optimizer)
    resumed.on_load_checkpoint(checkpoint)
    resumed.val_f1_best.update(0.9)  # the sanity check's two batches
    resumed.on_train_start()
    assert resumed.val_f1_best.compute().item() == pytest.approx(0.7)
    fresh = EmotionClassifier(backbone="tiny_bert", labels=["a", "b"], optimizer=optimizer)
    fresh.val_f1_best.update(0.9)
    fresh.on_train_start()
    fresh.val_f1_best.update(0.2)
    assert fresh.val_f1_best.compute().item() == pytest.approx(0.2)


@pytest.mark.unit
def test_a_multirun_writes_one_directory_per_job_under_logs_train_multiruns(tmp_path: Path) -> None:
    """Where `python -m maeum.train -m ...` writes (the multirun itself: tests/test_leaderboard.py, and the
    command above under -m slow)."""
    hydra = compose_config("train", tmp_path, return_hydra_config=True).hydra
    sweep = Path(hydra.sweep.dir)
    assert sweep.parent == tmp_path / "logs" / "train" / "multiruns" and sweep.name[:4].isdigit()
    assert OmegaConf.to_container(hydra.sweep)["subdir"] == "${hydra.job.num}"  # a directory per job


@pytest.mark.unit
def test_the_main_job_hides_only_the_library_messages_nobody_can_act_on(
    recwarn: pytest.WarningsRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """torchdata's and Lightning's own deprecations, Lightning's srun hint and its logging tip are hidden by
    the run's start (`maeum.runtime.quiet_library_noise`); a warning of the same kind that a user can act
    on still shows."""
    import logging
    import warnings

    from lightning_fabric.utilities.warnings import PossibleUserWarning
    from pytorch_lightning.utilities.rank_zero import rank_zero_info

    from maeum.runtime import LIGHTNING_TIP, quiet_library_noise

    with warnings.catch_warnings():
        quiet_library_noise()
        warnings.warn("'set_vital' is deprecated, please do not call", UserWarning, stacklevel=1)
        warnings.warn(
            "`isinstance(treespec, LeafSpec)` is deprecated, use ...", DeprecationWarning, stacklevel=1
        )
        warnings.warn("The `srun` command is available on your system but is not used.", PossibleUserWarning,
                      stacklevel=1)  # fmt: skip
        warnings.warn("The dataloader does not have many workers", PossibleUserWarning, stacklevel=1)
    assert [str(w.message) for w in recwarn] == ["The dataloader does not have many workers"]
    with caplog.at_level(logging.INFO, logger="pytorch_lightning.utilities.rank_zero"):
        rank_zero_info(f"{LIGHTNING_TIP}, try installing [litlogger]")
        rank_zero_info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
