"""A tiny label-mask x seed grid as a real Hydra multirun, its grouped leaderboard with intervals and paired
comparisons, W&B tags and groups, and Optuna."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sacrebleu
import yaml
from helpers.configs import LORA_CHATBOT, REPO
from helpers.runs import best_checkpoint

from maeum import leaderboard
from maeum.analysis.leaderboard import find_runs, read_run, read_wandb_records
from maeum.analysis.leaderboard.runs import _csv_rows, _per_epoch
from maeum.analysis.leaderboard.wandb_records import wandb_rows

MASKS = ("input", "last_sys")
SEEDS = (1, 2, 3)


def multirun(sweep_dir: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return finished(start_multirun(sweep_dir, *overrides), timeout)


def start_multirun(sweep_dir: Path, *overrides: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "maeum.train", "-m", f"paths.log_dir={sweep_dir.parent / 'logs'}",
           f"hydra.sweep.dir={sweep_dir}", "extras.print_config=false", *overrides]  # fmt: skip
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), cwd=REPO
    )


def finished(proc: subprocess.Popen, timeout: int = 600) -> subprocess.CompletedProcess:
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="session")
def grids(tmp_path_factory: pytest.TempPathFactory, main_run) -> dict[str, Path]:
    """Two masks x three seeds x 2 epochs (2 batches each) on the bundled dialogues, their replies judged
    by the main job's emotion classifier; two classifier variants x two seeds; and a broken chatbot, whose
    evaluation preset makes `</s>` win at once (tested untrained, `train=false`): the three side by side."""
    root = tmp_path_factory.mktemp("grids")
    judge = f"emotion_classifier={best_checkpoint(main_run[0])}"
    chatbots = start_multirun(
        root / "chatbot", "experiment=chatbot/sample_tiny", f"data.label_mask={','.join(MASKS)}",
        f"seed={','.join(map(str, SEEDS))}", "trainer.max_epochs=2", "+trainer.limit_train_batches=2",
        "callbacks.early_stopping=null", "logger=default", judge,
    )  # fmt: skip
    classifiers = start_multirun(
        root / "classifier", "model.dropout=0.1,0.5", "seed=1,2", "trainer.max_epochs=2",
        "callbacks.early_stopping=null", "logger=csv",
    )  # fmt: skip
    broken = start_multirun(
        root / "broken", "experiment=chatbot/sample_tiny", "data.label_mask=input", "seed=1", "train=false",
        "logger=csv", judge, "+callbacks.test_generations.preset.sequence_bias=[[[1],100.0]]",  # </s> is id 1
    )  # fmt: skip
    finished(chatbots)
    finished(classifiers)
    finished(broken)
    names = ("chatbot", "classifier", "broken")
    return {name: root / name for name in names}


@pytest.fixture(scope="session")
def chat_template_grid(tmp_path_factory: pytest.TempPathFactory, main_run) -> Path:
    """The chatbot grid of `grids` in tiny_llama3's chat template, with LoRA (slow: about 3 minutes)."""
    root = tmp_path_factory.mktemp("grids-chat-template")
    finished(start_multirun(
        root, *LORA_CHATBOT, f"data.label_mask={','.join(MASKS)}",
        f"seed={','.join(map(str, SEEDS))}", "trainer.max_epochs=2", "+trainer.limit_train_batches=2",
        "callbacks.early_stopping=null", "logger=csv", f"emotion_classifier={best_checkpoint(main_run[0])}",
    ))  # fmt: skip
    return root


@pytest.mark.e2e
@pytest.mark.slow
def test_a_chat_template_lora_grid_is_grouped_ranked_and_paired_like_a_marker_grid(
    chat_template_grid: Path, tmp_path: Path
) -> None:
    runs = [read_run(p) for p in find_runs([chat_template_grid])]
    assert sorted((r.label_mask, r.seed) for r in runs) == sorted((m, s) for m in MASKS for s in SEEDS)
    assert {r.backbone for r in runs} == {"tiny_llama3"}
    frame = pd.read_csv(leaderboard.write(runs, tmp_path)["csv"])
    assert len(frame) == 2 and frame["seeds"].tolist() == [3, 3]
    best = frame["val/response_ppl_best_mean"].tolist()
    assert best == sorted(best) and all(v > 1 for v in best)
    assert frame["paired"].tolist() == ["reference", "vs #1"] and frame["paired_delta_nll"].notna().all()
    assert frame["test/gen/chrf_mean"].notna().all() and (frame["test/gen/empty_rate_mean"] <= 1).all()
    replies = pd.read_csv(next(runs[0].path.glob("test_generations*.csv")))
    assert not replies["reply"].fillna("").str.contains("<|", regex=False).any()  # no chat markers left


@pytest.mark.e2e
def test_the_grid_gives_one_row_per_mask_with_three_seeds_and_a_paired_column(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    runs = [read_run(p) for p in find_runs([grids["chatbot"]])]
    assert sorted((r.label_mask, r.seed) for r in runs) == sorted((m, s) for m in MASKS for s in SEEDS)
    paths = leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(paths["csv"])
    assert len(frame) == 2 and sorted(frame["label mask"]) == sorted(MASKS)
    assert frame["seeds"].tolist() == [3, 3] and all(sorted(map(int, v.split())) == [1, 2, 3]
                                                     for v in frame["seed values"])  # fmt: skip
    for column in ("train/loss", "val/loss", "val/response_ppl"):
        assert all(len(str(cell).split(" -> ")) == 2 for cell in frame[column]), column  # 2 epochs each
    for name in ("val/response_ppl_best", "test/response_ppl", "test/response_acc"):
        mean, std, low, high = (frame[f"{name}_{s}"] for s in ("mean", "std", "ci95_low", "ci95_high"))
        assert ((low <= mean) & (mean <= high)).all() and (std >= 0).all(), name
    assert (frame["val/response_ppl_best_std"] > 0).all()  # the seeds really differ
    best = frame["val/response_ppl_best_mean"].tolist()
    assert best == sorted(best) and all(v > 1 for v in best)  # ranked by the common metric
    for _, row in frame.iterrows():  # the mean of the runs' own best epochs, as the runs logged them
        members = [r for r in runs if r.label_mask == row["label mask"]]
        logged = [pd.read_csv(next(r.path.glob("csv/version_*/metrics.csv")))["val/response_ppl_best"].min()
                  for r in members]  # fmt: skip
        assert row["val/response_ppl_best_mean"] == pytest.approx(sum(logged) / 3, rel=1e-4)
    for column in ("paired_delta_nll", "paired_delta_ci95_low", "paired_delta_ci95_high", "significant"):
        assert column in frame and frame[column].notna().all(), column
    reference, other = frame.iloc[0], frame.iloc[1]
    assert reference["paired"] == "reference" and reference["paired_delta_nll"] == 0
    assert other["paired"] == "vs #1"
    assert other["paired_delta_ci95_low"] <= other["paired_delta_nll"] <= other["paired_delta_ci95_high"]
    assert other["significant"] == (other["paired_delta_ci95_low"] > 0 or other["paired_delta_ci95_high"] < 0)
    markdown = paths["md"].read_text(encoding="utf-8")
    main_table = markdown.split("**What the replies say**")[0]
    assert sum(line.startswith("|") for line in main_table.splitlines()) == 2 + 2  # header, rule, 2 rows
    assert " ± " in markdown and "Δ NLL/token vs best [95%]" in markdown and "reference" in markdown
    assert "only compares runs of one mask" in markdown
    assert paths["png"].stat().st_size > 10_000


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _chrf_of(path: Path) -> float:
    frame = pd.read_csv(path, keep_default_na=False)
    return sacrebleu.corpus_chrf(frame["reply"].tolist(), [frame["reference"].tolist()]).score


@pytest.mark.e2e
def test_every_chatbot_row_carries_its_reply_metrics_paired_intervals_samples_and_flags(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    """2 masks x 3 seeds: every test/gen metric as mean ± std [interval], the four paired intervals
    (recomputed here from the files with sacrebleu), 5 sample dialogues with the same ids in every row."""
    runs = [read_run(p) for p in find_runs([grids["chatbot"]])]
    for run in runs:  # one reply per test dialogue, under the ids of test_predictions.csv
        generations = pd.read_csv(run.path / "test_generations.csv", keep_default_na=False)
        predictions = pd.read_csv(run.path / "test_predictions.csv")
        assert generations["id"].tolist() == predictions["id"].tolist()
        assert run.final["test/gen/chrf"] == pytest.approx(_chrf_of(run.path / "test_generations.csv"))
    paths = leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(paths["csv"])
    for metric in leaderboard.CHATBOT.generated:  # all 15, the emotion ones from the main job's classifier
        mean, low, high = (frame[f"{metric}_{s}"] for s in ("mean", "ci95_low", "ci95_high"))
        assert mean.notna().all() and ((low <= mean + 1e-9) & (mean <= high + 1e-9)).all(), metric
    best, other = leaderboard.build(runs)[0]
    assert best.replies_note == "reference" and other.replies_note == "vs #1"
    assert set(other.replies_paired) == {"chrf", "distinct_2", "empty_rate", "emotion_agreement"}
    for metric, paired in other.replies_paired.items():
        assert paired.low - 1e-9 <= paired.delta <= paired.high + 1e-9, metric
        assert frame.loc[1, f"paired_{metric}"] == pytest.approx(paired.delta)
    chrf = {row.first.label_mask: sum(_chrf_of(r.path / "test_generations.csv") for r in row.runs) / 3
            for row in (best, other)}  # fmt: skip
    assert other.replies_paired["chrf"].delta == pytest.approx(
        chrf[other.first.label_mask] - chrf[best.first.label_mask], abs=1e-9
    )
    shares = {}
    for row in (best, other):
        frames = [pd.read_csv(r.path / "test_generations.csv", keep_default_na=False) for r in row.runs]
        shares[row.first.label_mask] = sum(f["empty"].mean() for f in frames) / 3
    assert other.replies_paired["empty_rate"].delta == pytest.approx(
        shares[other.first.label_mask] - shares[best.first.label_mask], abs=1e-9
    )
    samples = pd.read_csv(paths["samples"])
    ids = samples.groupby("#")["id"].apply(list)
    assert len(ids) == 2 and ids.iloc[0] == ids.iloc[1] and len(ids.iloc[0]) == 5
    markdown = paths["md"].read_text(encoding="utf-8")
    assert "**Sample replies**" in markdown and all(f"`{i}`" in markdown for i in ids.iloc[0])
    assert "Δ chrF [95%]" in markdown and "Δ emotion agreement [95%]" in markdown and "flags" in frame


@pytest.mark.e2e
def test_a_broken_chatbot_is_flagged_and_its_other_preset_is_not_paired(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    """A chatbot whose evaluation preset makes it stop at once: empty replies, flagged in words; its
    preset differs from the grid's, so its replies are the reference of their own preset (its NLL is
    paired with the grid's best)."""
    runs = [read_run(p) for p in find_runs([grids["chatbot"], grids["broken"]])]
    rows = leaderboard.build(runs)[0]
    (broken,) = [r for r in rows if r.first.path.parent == grids["broken"]]
    assert broken.test("test/gen/empty_rate").mean == 1.0
    assert "empty replies 100%" in leaderboard.row_flags(broken)
    assert broken.pair_note.startswith("vs #") and broken.paired is not None
    assert broken.replies_note == "reference (other dialogues or preset)"
    leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    assert frame["flags"].fillna("").str.contains("empty replies 100%").sum() >= 1


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.unlink(), "no test_generations.csv in"),
        (lambda p: p.with_suffix(".json").unlink(), "its evaluation preset is unknown"),
        (lambda p: p.write_text("\n".join(p.read_text(encoding="utf-8").splitlines()[:3]), encoding="utf-8"),
         "is truncated: 2 rows of the 7"),
        (lambda p: _edit(p.with_suffix(".json"), '"max_new_tokens": 32', '"max_new_tokens": 8'),
         "its seeds generated under different evaluation presets"),
        (lambda p: p.write_bytes("id,응답\n".encode("cp949")), "is not readable"),
    ],
    ids=["missing", "no-preset", "truncated", "other-preset", "cp949"],
)  # fmt: skip
def test_a_broken_generations_file_is_one_reason_not_a_traceback(
    grids: dict[str, Path], tmp_path: Path, damage, reason: str
) -> None:
    grid = tmp_path / "실험 (복사본)"
    shutil.copytree(grids["chatbot"], grid)
    runs = [read_run(p) for p in find_runs([grid])]
    damage(runs[-1].path / "test_generations.csv")
    rows = leaderboard.build([read_run(p) for p in find_runs([grid])])[0]
    (row,) = [r for r in rows if runs[-1].path in [run.path for run in r.runs]]
    assert row.replies_note.startswith("not paired: ") and reason in row.replies_note
    assert not row.replies_paired and row.paired is not None  # the NLL still pairs
    leaderboard.write([read_run(p) for p in find_runs([grid])], tmp_path / "board")  # and renders


@pytest.mark.e2e
def test_the_paired_delta_is_the_log_ratio_of_the_pooled_test_perplexities(grids: dict[str, Path]) -> None:
    """Independently of maeum.analysis.stats: from the runs' test_predictions.csv, pooled over seeds per
    dialogue."""
    runs = [read_run(p) for p in find_runs([grids["chatbot"]])]
    (chatbots,) = leaderboard.build(runs)
    pooled = {}
    for row in chatbots:
        frames = [pd.read_csv(run.path / "test_predictions.csv") for run in row.runs]
        for run, f in zip(row.runs, frames, strict=True):  # each file gives the run's logged test metric
            ppl = math.exp(f["response_nll"].sum() / f["response_tokens"].sum())
            assert ppl == pytest.approx(run.final["test/response_ppl"], rel=1e-4)
            assert f["id"].tolist() == frames[0]["id"].tolist() and f["id"].is_unique
        nll = sum(f["response_nll"] for f in frames) / 3
        pooled[row.first.label_mask] = nll.sum() / frames[0]["response_tokens"].sum()
    best, other = chatbots
    assert best.paired.delta == 0 and other.paired.delta == pytest.approx(
        pooled[other.first.label_mask] - pooled[best.first.label_mask], abs=1e-9
    )


@pytest.mark.e2e
def test_per_run_keeps_one_row_per_run_and_says_one_seed_has_no_interval(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    leaderboard.main([str(grids["chatbot"]), "--output", str(tmp_path), "--per-run"])
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    assert len(frame) == 6 and (frame["seeds"] == 1).all()
    for spread in ("val/response_ppl_best_std", "val/response_ppl_best_ci95_low", "test/response_ppl_std"):
        assert frame[spread].isna().all(), spread
    assert (frame["paired"] == "reference").sum() == 1 and frame["paired_delta_nll"].notna().all()
    assert "(one seed: no interval)" in (tmp_path / "leaderboard.md").read_text(encoding="utf-8")


@pytest.mark.e2e
def test_runs_that_differ_in_more_than_the_seed_stay_apart_and_ids_must_match(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    grid = tmp_path / "grid"
    shutil.copytree(grids["chatbot"], grid)
    runs = [read_run(p) for p in find_runs([grid])]
    keys = {leaderboard.variant_key(r.path) for r in runs}
    assert len(keys) == 2  # one per mask
    for run in runs:  # without Hydra's raw config, the resolved one groups the same way
        shutil.rmtree(run.path / ".hydra")
    assert len({leaderboard.variant_key(r.path) for r in runs}) == 2
    (last_sys,) = [g for g in leaderboard.group_runs(runs) if g[0].label_mask == "last_sys"]
    assert sorted(r.seed for r in last_sys) == list(SEEDS)
    predictions = last_sys[1].path / "test_predictions.csv"  # one seed tested on other dialogues: no pairing
    frame = pd.read_csv(predictions)
    frame.loc[0, "id"] = "0-000000000000"
    frame.to_csv(predictions, index=False)
    rows = {row.first.label_mask: row for row in leaderboard.build([read_run(r.path) for r in runs])[0]}
    assert rows["last_sys"].paired is None
    assert rows["last_sys"].pair_note == "not paired: its seeds were tested on different examples"
    assert rows["input"].pair_note == "reference"  # alone on its test set now
    predictions.unlink()
    rows = leaderboard.build([read_run(r.path) for r in runs])[0]
    assert any(r.pair_note.startswith("not paired: no test_predictions.csv") for r in rows)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda f, p: p.write_bytes("id,응답\n".encode("cp949")), "is not a readable UTF-8 CSV"),
        (lambda f, p: p.write_text("", encoding="utf-8"), "is not a readable UTF-8 CSV"),
        (lambda f, p: f.drop(columns=["response_tokens"]).to_csv(p, index=False), "lacks the column(s)"),
        (lambda f, p: f.assign(response_nll=["ㅠㅠ", *f["response_nll"][1:]]).to_csv(p, index=False),
         "has 1 row(s) with an empty or invalid id or response_nll, response_tokens"),
    ],
    ids=["cp949", "empty", "missing-column", "text-in-a-number"],
)  # fmt: skip
def test_a_broken_predictions_file_is_one_reason_not_a_traceback(
    grids: dict[str, Path], tmp_path: Path, damage, reason: str
) -> None:
    grid = tmp_path / "실험 (복사본)"
    shutil.copytree(grids["chatbot"], grid)
    runs = [read_run(p) for p in find_runs([grid])]
    broken = runs[-1]
    predictions = broken.path / "test_predictions.csv"
    damage(pd.read_csv(predictions), predictions)
    rows = leaderboard.build([read_run(p) for p in find_runs([grid])])[0]
    (row,) = [r for r in rows if broken.path in [run.path for run in r.runs]]
    assert row.paired is None and row.pair_note.startswith("not paired: ") and reason in row.pair_note


@pytest.mark.e2e
def test_rows_on_other_tokens_are_not_compared_per_token(grids: dict[str, Path], tmp_path: Path) -> None:
    """The same dialogue ids with other response token counts (another tokenizer or max_length): the
    per-token NLLs do not compare, so the row is not paired with the best."""
    grid = tmp_path / "grid"
    shutil.copytree(grids["chatbot"], grid)
    runs = [read_run(p) for p in find_runs([grid])]
    _, other = leaderboard.build(runs)[0]
    for run in other.runs:
        predictions = run.path / "test_predictions.csv"
        frame = pd.read_csv(predictions)
        frame["response_tokens"] += 1
        frame.to_csv(predictions, index=False)
    rows = leaderboard.build([read_run(p) for p in find_runs([grid])])[0]
    assert [r.pair_note for r in rows] == [
        "reference",
        "reference (other tokens on the same test examples: perplexities do not compare)",
    ]


@pytest.mark.e2e
def test_a_from_scratch_twin_reads_apart_from_its_pretrained_backbone(
    grids: dict[str, Path], tmp_path: Path
) -> None:
    """`model.pretrained: false` on the same backbone (the `_scratch` grids): the backbone column says
    `(random init)`, and the twin is a row of its own, not a fourth seed of its pretrained variant."""
    grid = tmp_path / "grid"
    shutil.copytree(grids["chatbot"], grid)
    twin = find_runs([grid])[0]
    for name in ("config.yaml", ".hydra/config.yaml"):
        cfg = yaml.safe_load((twin / name).read_text(encoding="utf-8"))
        cfg["model"]["pretrained"] = False
        (twin / name).write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    runs = [read_run(p) for p in find_runs([grid])]
    assert {r.path: r.backbone for r in runs}[twin] == "tiny_gpt2 (random init)"
    assert {r.backbone for r in runs if r.path != twin} == {"tiny_gpt2"}
    rows = leaderboard.build(runs)[0]
    assert [[run.path for run in row.runs] for row in rows].count([twin]) == 1
    assert "| tiny_gpt2 (random init) |" in leaderboard.samples_markdown(leaderboard.samples(rows))


@pytest.mark.e2e
def test_wandb_run_files_give_the_csv_trajectories_and_carry_tags_and_group(grids: dict[str, Path]) -> None:
    run_dir = grids["chatbot"] / "0"
    from_csv = _per_epoch(_csv_rows(run_dir))[0]
    from_wandb = _per_epoch(wandb_rows(run_dir))[0]
    assert from_wandb["val/response_ppl"] == pytest.approx(from_csv["val/response_ppl"], rel=1e-5)
    assert from_wandb["train/loss_epoch"] == pytest.approx(from_csv["train/loss_epoch"], rel=1e-5)
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    (run,) = [r.run for r in read_wandb_records(run_file) if r.WhichOneof("record_type") == "run"][:1]
    assert run.run_group == "chatbot"  # the multirun's directory
    assert {"experiment:chatbot/sample_tiny", "mask:input", "epochs:2"} <= set(run.tags)


@pytest.mark.e2e
def test_classifier_runs_rank_by_macro_f1(grids: dict[str, Path], tmp_path: Path, capsys) -> None:
    leaderboard.main([str(grids["classifier"]), str(grids["chatbot"]), "--output", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "## chatbot runs" in printed and "## classifier runs" in printed
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    classifier = frame[frame["task"] == "classifier"]
    assert len(classifier) == 2 and all(len(str(c).split(" -> ")) == 2 for c in classifier["val/f1_macro"])
    assert (classifier["seeds"] == 2).all()
    best = classifier["val/f1_macro_best_mean"].tolist()
    assert best == sorted(best, reverse=True)
    assert classifier["mcnemar_p"].between(0, 1).all() and classifier["paired_delta_acc"].notna().all()
    assert classifier["paired"].tolist() == ["reference", "vs #1"]
    for run_dir in find_runs([grids["classifier"]]):  # every test example, and the run's logged accuracy
        predictions = pd.read_csv(run_dir / "test_predictions.csv")
        acc = pd.read_csv(next(run_dir.glob("csv/version_*/metrics.csv")))["test/acc"].dropna().iloc[-1]
        assert len(predictions) == 36 and predictions["correct"].mean() == pytest.approx(acc, abs=1e-6)
        assert (predictions["correct"] == (predictions["label"] == predictions["predicted"])).all()


@pytest.mark.e2e
def test_leaderboard_goes_to_wandb_offline(grids: dict[str, Path], tmp_path: Path) -> None:
    leaderboard.main([str(grids["chatbot"]), "--output", str(tmp_path), "--wandb"])
    tables = tmp_path.glob("wandb/offline-run-*/files/media/table/leaderboard_*.table.json")
    (table,) = [t for t in tables if not t.name.startswith("leaderboard_samples_")]
    logged = json.loads(table.read_text(encoding="utf-8"))  # the grouped table: one row per mask
    seeds = logged["columns"].index("seeds")
    assert len(logged["data"]) == 2 and [row[seeds] for row in logged["data"]] == [3, 3]
    assert {"paired_delta_nll", "val/response_ppl_best_ci95_low", "significant"} <= set(logged["columns"])
    assert list(tmp_path.glob("wandb/offline-run-*/files/media/images/leaderboard_curves_*.png"))
    (samples,) = tmp_path.glob("wandb/offline-run-*/files/media/table/leaderboard_samples_*.table.json")
    logged = json.loads(samples.read_text(encoding="utf-8"))  # 5 dialogues x 2 rows, their replies
    assert len(logged["data"]) == 10 and {"id", "history", "reference", "reply"} <= set(logged["columns"])


@pytest.mark.unit
def test_flags_say_in_words_what_the_reply_metrics_show() -> None:
    """Each threshold of `flags.THRESHOLDS` on the mean over seeds, and overfitting, in words."""
    runs = []
    for seed, empty in ((1, 0.85), (2, 0.89)):
        run = leaderboard.Run(Path(f"r{seed}"), leaderboard.CHATBOT, "tiny_gpt2", "d", "shift", 3, "", seed)
        run.curves = {"val/response_ppl": [300.0, 400.0, 460.0]}
        run.final = {"test/gen/empty_rate": empty, "test/gen/copy_rate": 0.41, "test/gen/repeat_rate": 0.1,
                     "test/gen/top_reply_share": 0.35, "test/gen/max_length_rate": 0.6}  # fmt: skip
        runs.append(run)
    assert leaderboard.row_flags(leaderboard.Row(runs)) == (
        "overfitting (after epoch 1); empty replies 87%; repeats the user 41%; one reply for 35%; "
        "never stops 60%"
    )
    for run in runs:
        run.curves = {"val/response_ppl": [300.0, 200.0, 150.0]}
        run.final = {
            f"test/gen/{metric}": threshold * 0.99 for metric, threshold, _ in leaderboard.THRESHOLDS
        }
    assert leaderboard.row_flags(leaderboard.Row(runs)) == ""  # just under every threshold


@pytest.mark.unit
def test_overfitting_flag_and_best_epoch() -> None:
    run = leaderboard.Run(Path("r"), leaderboard.CHATBOT, "tiny_gpt2", "d", "input", 5, "")
    run.curves = {"val/response_ppl": [90.0, 40.0, 38.0, 41.0, 45.0]}
    assert run.best_epoch() == 2 and run.overfitting()  # 45 > 1.05 x 38
    run.curves = {"val/response_ppl": [90.0, 40.0, 38.0, 39.0]}
    assert not run.overfitting()


@pytest.mark.unit
def test_a_directory_without_runs_is_one_message(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        leaderboard.main([str(tmp_path)])
    assert "no maeum-train run below it" in capsys.readouterr().err


@pytest.mark.e2e
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


@pytest.mark.e2e
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
    assert "10 runs in 4 rows" in text and "4 confusion matrices" in text
    images = [
        o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2 + 4  # the curves and intervals of both tasks, four confusion matrices


@pytest.mark.unit
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


@pytest.mark.e2e
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
    assert [p.name for p in find_runs([grid])] == [str(n) for n in range(len(MASKS) * len(SEEDS))]
    with pytest.raises(leaderboard.MaeumError, match="not a maeum-train run"):
        find_runs([grid / "eval-run"])
