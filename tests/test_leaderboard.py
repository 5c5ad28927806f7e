"""A tiny label-mask grid as a real Hydra multirun, its leaderboard, W&B tags and groups, and Optuna."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

from maeum import leaderboard
from maeum.leaderboard import find_runs, read_run, read_wandb_records

MASKS = ("input", "last_sys", "all_sys", "shift")


def multirun(sweep_dir: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "maeum.train", "-m", f"paths.log_dir={sweep_dir.parent / 'logs'}",
           f"hydra.sweep.dir={sweep_dir}", "extras.print_config=false", *overrides]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="session")
def grids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four masks x 2 epochs (2 batches each) on the bundled dialogues, and two classifier runs."""
    root = tmp_path_factory.mktemp("grids")
    multirun(
        root / "chatbot", "experiment=chatbot/sample_tiny", f"data.label_mask={','.join(MASKS)}",
        "trainer.max_epochs=2", "+trainer.limit_train_batches=2", "callbacks.early_stopping=null",
        "logger=default",
    )  # fmt: skip
    multirun(
        root / "classifier", "model.dropout=0.1,0.5", "trainer.max_epochs=2", "callbacks.early_stopping=null",
        "logger=csv",
    )  # fmt: skip
    return {"chatbot": root / "chatbot", "classifier": root / "classifier"}


def test_the_grid_gives_one_row_per_run_with_every_epoch(grids: dict[str, Path], tmp_path: Path) -> None:
    runs = [read_run(p) for p in find_runs([grids["chatbot"]])]
    assert sorted(r.label_mask for r in runs) == sorted(MASKS)
    paths = leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(paths["csv"])
    assert len(frame) == 4 and sorted(frame["label mask"]) == sorted(MASKS)
    for column in ("train/loss", "val/loss", "val/response_ppl"):
        assert all(len(str(cell).split(" -> ")) == 2 for cell in frame[column]), column  # 2 epochs each
    best = frame["best val/response_ppl"].tolist()
    assert best == sorted(best) and all(v > 1 for v in best)  # ranked by the common metric, every mask
    assert frame["test/response_ppl"].notna().all()
    markdown = paths["md"].read_text(encoding="utf-8")
    assert sum(line.startswith("|") for line in markdown.splitlines()) == 2 + 4  # header, rule, 4 runs
    assert "only compares runs of one mask" in markdown
    assert paths["png"].stat().st_size > 10_000


def test_wandb_run_files_give_the_csv_trajectories_and_carry_tags_and_group(grids: dict[str, Path]) -> None:
    run_dir = grids["chatbot"] / "0"
    from_csv = leaderboard._per_epoch(leaderboard._csv_rows(run_dir))[0]
    from_wandb = leaderboard._per_epoch(leaderboard._wandb_rows(run_dir))[0]
    assert from_wandb["val/response_ppl"] == pytest.approx(from_csv["val/response_ppl"], rel=1e-5)
    assert from_wandb["train/loss_epoch"] == pytest.approx(from_csv["train/loss_epoch"], rel=1e-5)
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    (run,) = [r.run for r in read_wandb_records(run_file) if r.WhichOneof("record_type") == "run"][:1]
    assert run.run_group == "chatbot"  # the multirun's directory
    assert {"experiment:chatbot/sample_tiny", "mask:input", "epochs:2"} <= set(run.tags)


def test_classifier_runs_rank_by_macro_f1(grids: dict[str, Path], tmp_path: Path, capsys) -> None:
    leaderboard.main([str(grids["classifier"]), str(grids["chatbot"]), "--output", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "## chatbot runs" in printed and "## classifier runs" in printed
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    classifier = frame[frame["task"] == "classifier"]
    assert len(classifier) == 2 and all(len(str(c).split(" -> ")) == 2 for c in classifier["val/f1_macro"])
    assert classifier["best val/f1_macro"].tolist() == sorted(classifier["best val/f1_macro"], reverse=True)


def test_leaderboard_goes_to_wandb_offline(grids: dict[str, Path], tmp_path: Path) -> None:
    leaderboard.main([str(grids["chatbot"]), "--output", str(tmp_path), "--wandb"])
    assert list(tmp_path.glob("wandb/offline-run-*/files/media/table/leaderboard_*.table.json"))
    assert list(tmp_path.glob("wandb/offline-run-*/files/media/images/leaderboard_curves_*.png"))


def test_overfitting_flag_and_best_epoch() -> None:
    run = leaderboard.Run(Path("r"), leaderboard.CHATBOT, "tiny_gpt2", "d", "input", 5, "")
    run.curves = {"val/response_ppl": [90.0, 40.0, 38.0, 41.0, 45.0]}
    assert run.best_epoch() == 2 and run.overfitting()  # 45 > 1.05 x 38
    run.curves = {"val/response_ppl": [90.0, 40.0, 38.0, 39.0]}
    assert not run.overfitting()


def test_a_directory_without_runs_is_one_message(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        leaderboard.main([str(tmp_path)])
    assert "no maeum-train run below it" in capsys.readouterr().err


def test_optuna_search_of_three_trials_writes_its_results(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the optional extra maeum[optuna]")
    sweep = tmp_path / "optuna"
    proc = multirun(
        sweep, "hparams_search=emotion_optuna", "hydra.sweeper.n_trials=3", "trainer.max_epochs=2",
        "logger=csv", "callbacks.early_stopping=null",
        # some trials ask for an impossible split: each must fail alone, not end the study
        "data.val_fraction=choice(0.15,0.2,1.5)",
    )  # fmt: skip
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text(encoding="utf-8"))
    assert results["name"] == "optuna" and 0 < results["best_value"] <= 1
    assert set(results["best_params"]) >= {"model.optimizer.lr", "model.dropout", "data.batch_size"}
    assert len(list(sweep.glob("*/config.yaml"))) == 3  # every trial ran
    log = proc.stdout + proc.stderr
    assert log.count("Failed experiment") == 1  # (the seeded sampler draws val_fraction=1.5 once)
    assert "data.val_fraction=1.5" in log


def test_the_results_notebook_runs_on_the_grids(grids: dict[str, Path]) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = REPO / "notebooks" / "leaderboard.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # stripped
    os.environ["MAEUM_LEADERBOARD_DIRS"] = os.pathsep.join(str(grids[k]) for k in ("chatbot", "classifier"))
    try:
        nbclient.NotebookClient(
            notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        del os.environ["MAEUM_LEADERBOARD_DIRS"]
    text = "".join(
        str(output.get("text", "")) for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "6 runs" in text and "2 confusion matrices" in text
    images = [
        o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2 + 2  # the curves of both tasks, two confusion matrices


@pytest.mark.parametrize(
    ("search", "metric", "direction"),
    [
        ("emotion_optuna", "val/f1_macro_best", "maximize"),
        ("chatbot_optuna", "val/response_ppl_best", "minimize"),
    ],
)
def test_searches_optimise_a_metric_their_runs_log(
    search: str, metric: str, direction: str, tmp_path: Path
) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the optional extra maeum[optuna]")
    from hydra import compose, initialize_config_dir

    from maeum.paths import config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=[f"hparams_search={search}"], return_hydra_config=True)
    assert cfg.optimized_metric == metric and cfg.hydra.sweeper.direction == direction
    assert cfg.hydra.sweeper.max_failure_rate == 1.0
    source = (
        REPO / "src" / "maeum" / "models" / ("classifier.py" if "f1" in metric else "chat_lm.py")
    ).read_text()
    assert f'"{metric}"' in source  # the module logs the objective under this name


def test_config_files_of_wandb_hydra_and_other_tasks_are_not_runs(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    grid = tmp_path / "grid"
    shutil.copytree(grids["chatbot"], grid)
    (grid / "0" / "wandb" / "run-x" / "files").mkdir(parents=True)
    (grid / "0" / "wandb" / "run-x" / "files" / "config.yaml").write_text("lr: 1\n", encoding="utf-8")
    (grid / "eval-run").mkdir()
    (grid / "eval-run" / "config.yaml").write_text("task_name: eval\ndata: null\n", encoding="utf-8")
    assert [p.name for p in find_runs([grid])] == ["0", "1", "2", "3"]
    with pytest.raises(leaderboard.MaeumError, match="not a maeum-train run"):
        find_runs([grid / "eval-run"])
