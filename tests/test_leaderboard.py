"""The leaderboard on run directories: its grouping, ranking, intervals, paired comparisons, reply metrics,
flags and reasons on grids that `helpers.run_dirs` writes in the real formats (every value chosen here, so
every expected number is known), and one real Hydra multirun read end to end (W&B files, the notebook);
and Optuna."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sacrebleu
import yaml
from helpers.configs import GRID_MASKS, GRID_SEEDS, LORA_CHATBOT, REPO
from helpers.run_dirs import (
    DIALOGUES,
    EMOTIONS,
    EXAMPLES,
    JUDGED,
    REFERENCES,
    TOKENS,
    EmotionJudge,
    chatbot_run,
    classifier_run,
)
from helpers.runs import best_checkpoint, multirun_subprocess
from scipy import stats

from maeum import leaderboard
from maeum.analysis.leaderboard import find_runs, read_run, read_wandb_records
from maeum.analysis.leaderboard.runs import _csv_rows, _hydra_choices, _per_epoch
from maeum.analysis.leaderboard.wandb_records import wandb_rows

MASKS = ("input", "last_sys")
SEEDS = (1, 2, 3)
# val/response_ppl per epoch of each (mask, seed): last_sys is the better mask, though the grid trains it last
VAL_PPL = {
    ("input", 1): (60.0, 50.0), ("input", 2): (66.0, 55.0), ("input", 3): (54.0, 45.0),
    ("last_sys", 1): (40.0, 30.0), ("last_sys", 2): (44.0, 32.0), ("last_sys", 3): (36.0, 28.0),
}  # fmt: skip
PER_TOKEN = {"input": math.log(50), "last_sys": math.log(30)}  # each mask's test NLL per token, about
FILLER = "그렇군요. 더 이야기해 주세요."
CONDITIONS = [condition for condition, _ in DIALOGUES]


def nll_of(mask: str, seed: int) -> list[float]:
    """Each test dialogue's summed response NLL: the mask's per-token NLL give or take 0.2 (other for every
    seed and dialogue), times its tokens."""
    jitter = np.random.default_rng([MASKS.index(mask), seed]).uniform(-0.2, 0.2, len(TOKENS))
    return [t * (PER_TOKEN[mask] + j) for t, j in zip(TOKENS, jitter, strict=True)]


def replies_of(mask: str, seed: int) -> list[str]:
    """last_sys says the reference but once; input says nothing to a third of the dialogues, and filler."""
    if mask == "last_sys":
        return [FILLER if d == seed else ref for d, ref in enumerate(REFERENCES)]
    return ["" if (d + seed) % 3 == 0 else ref if d < 2 else FILLER for d, ref in enumerate(REFERENCES)]


@pytest.fixture(scope="module")
def chatbot_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The label-mask x seed grid, its jobs numbered as `python -m maeum.train -m
    experiment=chatbot/sample_tiny data.label_mask=input,last_sys seed=1,2,3 trainer.max_epochs=2
    logger=csv emotion_classifier=JUDGE` numbers them."""
    grid = tmp_path_factory.mktemp("실험") / "챗봇 (마스크 x 시드)"
    for job, (mask, seed) in enumerate((m, s) for m in MASKS for s in SEEDS):
        overrides = [f"data.label_mask={mask}", f"seed={seed}", "trainer.max_epochs=2", "logger=csv", *JUDGED]
        chatbot_run(
            grid, job, overrides, val_ppl=VAL_PPL[mask, seed], nll=nll_of(mask, seed),
            replies=replies_of(mask, seed), test_acc=0.2 + 0.01 * seed,
        )  # fmt: skip
    return grid


@pytest.fixture
def grid_copy(chatbot_grid: Path, tmp_path: Path) -> Path:
    """A copy of the chatbot grid to damage, under a Korean name with spaces and parentheses."""
    return Path(shutil.copytree(chatbot_grid, tmp_path / "실험 (복사본)"))


# val/f1_macro per epoch and the test examples each (dropout, seed) gets right: dropout 0.5 is the better;
# McNemar's test leaves out the tied votes over seeds (examples 6, 7 of dropout 0.1; 0, 11 of dropout 0.5)
CLASSIFIERS = {
    (0.1, 1): ((0.3, 0.5), range(2, 6)), (0.1, 2): ((0.35, 0.55), range(2, 8)),
    (0.5, 1): ((0.4, 0.7), range(0, 12)), (0.5, 2): ((0.5, 0.6), range(1, 11)),
}  # fmt: skip
WRONG = {label: EMOTIONS[(EMOTIONS.index(label) + 1) % len(EMOTIONS)] for label in EMOTIONS}  # a mistake


@pytest.fixture(scope="module")
def classifier_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m maeum.train -m model.dropout=0.1,0.5 seed=1,2 trainer.max_epochs=2 logger=csv`."""
    grid = tmp_path_factory.mktemp("실험") / "분류기"
    for job, ((dropout, seed), (f1, right)) in enumerate(CLASSIFIERS.items()):
        predicted = [label if k in right else WRONG[label] for k, (_, label) in enumerate(EXAMPLES)]
        classifier_run(grid, job, [f"model.dropout={dropout}", f"seed={seed}", "trainer.max_epochs=2",
                                   "logger=csv"], val_f1=f1, predicted=predicted)  # fmt: skip
    return grid


@pytest.fixture(scope="module")
def broken_grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A chatbot tested untrained (`train=false`) under an evaluation preset that makes `</s>` win at once:
    it says nothing to any dialogue, under another preset than the grid's."""
    grid = tmp_path_factory.mktemp("실험") / "broken"
    chatbot_run(
        grid, 0, ["data.label_mask=input", "seed=1", "train=false", "logger=csv", *JUDGED,
                  "+callbacks.test_generations.preset.sequence_bias=[[[1],100.0]]"],  # </s> is id 1
        val_ppl=(), nll=[t * math.log(5000) for t in TOKENS], replies=[""] * len(DIALOGUES),
    )  # fmt: skip
    return grid


def seeds_interval(values) -> tuple[float, float, float, float]:
    """Mean, sample std and the 95% t interval of the mean (independently of maeum.analysis.stats)."""
    x = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return x.mean(), x.std(ddof=1), x.mean() - half, x.mean() + half


def pooled_per_token(mask: str) -> float:
    """The mask's test NLL per token, its seeds' NLLs averaged per dialogue first."""
    return float(np.mean([nll_of(mask, s) for s in SEEDS], axis=0).sum() / sum(TOKENS))


def chrf(replies: list[str]) -> float:
    return sacrebleu.corpus_chrf(replies, [list(REFERENCES)]).score


def agreement(replies: list[str]) -> float:
    """The share of dialogues whose reply the judge labels as it labels the reference (its condition)."""
    judge = EmotionJudge(EMOTIONS)
    labels = [judge.predict([r])[0]["label"] if r.strip() else "" for r in replies]
    return float(np.mean([label == c for label, c in zip(labels, CONDITIONS, strict=True)]))


@pytest.mark.unit
def test_the_grid_gives_one_row_per_mask_with_three_seeds_and_a_paired_column(
    chatbot_grid: Path, tmp_path: Path
) -> None:
    runs = [read_run(p) for p in find_runs([chatbot_grid])]
    assert sorted((r.label_mask, r.seed) for r in runs) == sorted((m, s) for m in MASKS for s in SEEDS)
    paths = leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(paths["csv"])
    assert frame["label mask"].tolist() == ["last_sys", "input"]  # ranked by the common metric, not order
    assert frame["seeds"].tolist() == [3, 3] and all(sorted(map(int, v.split())) == [1, 2, 3]
                                                     for v in frame["seed values"])  # fmt: skip
    for n, mask in enumerate(("last_sys", "input")):  # the per-epoch means over the seeds
        curves = np.array([VAL_PPL[mask, s] for s in SEEDS])
        assert frame.loc[n, "val/response_ppl"] == " -> ".join(f"{v:.3f}" for v in curves.mean(axis=0))
        assert frame.loc[n, "val/loss"] == " -> ".join(
            f"{v:.3f}" for v in (np.log(curves) + 0.5).mean(axis=0)
        )
        assert frame.loc[n, "train/loss"] == " -> ".join(
            f"{v:.3f}" for v in (np.log(curves) + 0.6).mean(axis=0)
        )
        assert frame.loc[n, "best epoch"] == 2 and pd.isna(frame.loc[n, "overfitting"])
        expected = {  # each seed's own best epoch; the test metrics from test_predictions.csv's NLLs
            "val/response_ppl_best": [min(VAL_PPL[mask, s]) for s in SEEDS],
            "test/response_ppl": [math.exp(sum(nll_of(mask, s)) / sum(TOKENS)) for s in SEEDS],
            "test/response_acc": [0.2 + 0.01 * s for s in SEEDS],
        }
        for name, values in expected.items():
            columns = [frame.loc[n, f"{name}_{s}"] for s in ("mean", "std", "ci95_low", "ci95_high")]
            assert columns == pytest.approx(seeds_interval(values), rel=1e-6), (mask, name)
    assert frame["val/response_ppl_best_mean"].tolist() == pytest.approx([30.0, 50.0])
    assert frame["val/response_ppl_best_std"].tolist() == pytest.approx([2.0, 5.0])
    reference, other = frame.iloc[0], frame.iloc[1]
    assert reference["paired"] == "reference" and reference["paired_delta_nll"] == 0
    assert reference["paired_delta_ci95_low"] == reference["paired_delta_ci95_high"] == 0
    assert other["paired"] == "vs #1"
    delta = pooled_per_token("input") - pooled_per_token("last_sys")  # ln(ppl / best ppl), about ln(5/3)
    assert other["paired_delta_nll"] == pytest.approx(delta, abs=1e-9)
    assert 0 < other["paired_delta_ci95_low"] < delta < other["paired_delta_ci95_high"]
    assert other["significant"] and not reference["significant"]
    markdown = paths["md"].read_text(encoding="utf-8")
    main_table = markdown.split("**What the replies say**")[0]
    assert sum(line.startswith("|") for line in main_table.splitlines()) == 2 + 2  # header, rule, 2 rows
    assert "30 ± 2 [" in main_table and "50 ± 5 [" in main_table
    assert f"{delta:+.4f} [" in main_table and "Δ NLL/token vs best [95%]" in markdown
    header, _, *lines = [[cell.strip() for cell in line.split("|")] for line in main_table.splitlines()[:4]]
    verdicts = [line[header.index("significant")] for line in lines]
    assert verdicts == ["reference", "yes"]
    assert "only compares runs of one mask" in markdown
    assert paths["png"].stat().st_size > 10_000


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _chrf_of(path: Path) -> float:
    frame = pd.read_csv(path, keep_default_na=False)
    return sacrebleu.corpus_chrf(frame["reply"].tolist(), [frame["reference"].tolist()]).score


@pytest.mark.unit
def test_every_chatbot_row_carries_its_reply_metrics_paired_intervals_samples_and_flags(
    chatbot_grid: Path, tmp_path: Path
) -> None:
    """2 masks x 3 seeds: every test/gen metric as mean ± std [interval], the four paired intervals
    (recomputed here from the replies with sacrebleu and the judge), 5 sample dialogues with the same ids in
    every row."""
    runs = [read_run(p) for p in find_runs([chatbot_grid])]
    for run in runs:  # one reply per test dialogue, under the ids of test_predictions.csv
        generations = pd.read_csv(run.path / "test_generations.csv", keep_default_na=False)
        predictions = pd.read_csv(run.path / "test_predictions.csv")
        assert generations["id"].tolist() == predictions["id"].tolist()
        assert generations["reply"].tolist() == replies_of(run.label_mask, run.seed)
        assert run.final["test/gen/chrf"] == pytest.approx(chrf(replies_of(run.label_mask, run.seed)))
    paths = leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(paths["csv"])
    for metric in leaderboard.CHATBOT.generated:  # all 15, the emotion ones from the judge
        mean, low, high = (frame[f"{metric}_{s}"] for s in ("mean", "ci95_low", "ci95_high"))
        assert mean.notna().all() and ((low <= mean + 1e-9) & (mean <= high + 1e-9)).all(), metric
    empty = {mask: [replies_of(mask, s).count("") / len(DIALOGUES) for s in SEEDS] for mask in MASKS}
    assert frame.loc[1, "test/gen/empty_rate_mean"] == pytest.approx(np.mean(empty["input"]))
    assert frame.loc[1, "test/gen/empty_rate_std"] == pytest.approx(np.std(empty["input"], ddof=1))
    best, other = leaderboard.build(runs)[0]
    assert best.first.label_mask == "last_sys" and other.first.label_mask == "input"
    assert best.replies_note == "reference" and other.replies_note == "vs #1"
    assert set(other.replies_paired) == {"chrf", "distinct_2", "empty_rate", "emotion_agreement"}
    for metric, paired in other.replies_paired.items():
        assert paired.low - 1e-9 <= paired.delta <= paired.high + 1e-9, metric
        assert frame.loc[1, f"paired_{metric}"] == pytest.approx(paired.delta)
    expected = {  # the row's mean over its seeds minus the reference's
        "chrf": lambda mask: np.mean([chrf(replies_of(mask, s)) for s in SEEDS]),
        "empty_rate": lambda mask: np.mean(empty[mask]),
        "emotion_agreement": lambda mask: np.mean([agreement(replies_of(mask, s)) for s in SEEDS]),
    }
    for metric, of in expected.items():
        assert other.replies_paired[metric].delta == pytest.approx(of("input") - of("last_sys"), abs=1e-9)
    assert other.replies_paired["chrf"].high < 0 < other.replies_paired["empty_rate"].low  # clearly worse
    samples = pd.read_csv(paths["samples"])
    ids = samples.groupby("#")["id"].apply(list)
    assert len(ids) == 2 and ids.iloc[0] == ids.iloc[1] and len(ids.iloc[0]) == 5
    markdown = paths["md"].read_text(encoding="utf-8")
    assert "**Sample replies**" in markdown and all(f"`{i}`" in markdown for i in ids.iloc[0])
    assert "Δ chrF [95%]" in markdown and "Δ emotion agreement [95%]" in markdown
    assert pd.isna(frame.loc[0, "flags"])  # last_sys: nothing wrong
    assert f"empty replies {np.mean(empty['input']):.0%}" in frame.loc[1, "flags"]


@pytest.mark.unit
def test_a_broken_chatbot_is_flagged_and_its_other_preset_is_not_paired(
    chatbot_grid: Path, broken_grid: Path, tmp_path: Path
) -> None:
    """A chatbot whose evaluation preset makes it stop at once: empty replies, flagged in words; its
    preset differs from the grid's, so its replies are the reference of their own preset (its NLL is
    paired with the grid's best)."""
    runs = [read_run(p) for p in find_runs([chatbot_grid, broken_grid])]
    rows = leaderboard.build(runs)[0]
    (broken,) = [r for r in rows if r.first.path.parent == broken_grid]
    assert broken is rows[-1] and broken.mean.epochs == 0  # never trained: no validation to rank by
    assert broken.test("test/gen/empty_rate").mean == 1.0
    assert "empty replies 100%" in leaderboard.row_flags(broken)
    assert broken.pair_note == "vs #1" and broken.paired is not None and broken.paired.delta > 0
    assert broken.replies_note == "reference (other dialogues or preset)"
    leaderboard.write(runs, tmp_path)
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    assert frame["flags"].fillna("").str.contains("empty replies 100%").tolist() == [False, False, True]


@pytest.mark.unit
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
    grid_copy: Path, tmp_path: Path, damage, reason: str
) -> None:
    runs = [read_run(p) for p in find_runs([grid_copy])]
    damage(runs[-1].path / "test_generations.csv")
    rows = leaderboard.build([read_run(p) for p in find_runs([grid_copy])])[0]
    (row,) = [r for r in rows if runs[-1].path in [run.path for run in r.runs]]
    assert row.replies_note.startswith("not paired: ") and reason in row.replies_note
    assert not row.replies_paired and row.paired is not None  # the NLL still pairs
    (other,) = [r for r in rows if r is not row]
    assert other.replies_note == "reference" and other.said is not None  # the other row reads on
    leaderboard.write([read_run(p) for p in find_runs([grid_copy])], tmp_path / "board")  # and renders


@pytest.mark.unit
def test_the_paired_delta_is_the_log_ratio_of_the_pooled_test_perplexities(chatbot_grid: Path) -> None:
    """Independently of maeum.analysis.stats: from the NLLs the runs' test_predictions.csv hold, pooled over
    seeds per dialogue."""
    runs = [read_run(p) for p in find_runs([chatbot_grid])]
    (chatbots,) = leaderboard.build(runs)
    for row in chatbots:
        frames = [pd.read_csv(run.path / "test_predictions.csv") for run in row.runs]
        for run, f in zip(row.runs, frames, strict=True):
            assert f["response_nll"].tolist() == pytest.approx(nll_of(run.label_mask, run.seed))
            assert f["id"].tolist() == frames[0]["id"].tolist() and f["id"].is_unique
    best, other = chatbots
    assert best.paired.delta == 0 and other.paired.delta == pytest.approx(
        pooled_per_token("input") - pooled_per_token("last_sys"), abs=1e-9
    )
    ppl = {r.first.label_mask: math.exp(pooled_per_token(r.first.label_mask)) for r in chatbots}
    assert math.exp(other.paired.delta) == pytest.approx(ppl["input"] / ppl["last_sys"])


@pytest.mark.unit
def test_per_run_keeps_one_row_per_run_and_says_one_seed_has_no_interval(
    chatbot_grid: Path, tmp_path: Path
) -> None:
    leaderboard.main([str(chatbot_grid), "--output", str(tmp_path), "--per-run"])
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    assert len(frame) == 6 and (frame["seeds"] == 1).all()
    assert frame["val/response_ppl_best_mean"].tolist() == sorted(min(v) for v in VAL_PPL.values())
    for spread in ("val/response_ppl_best_std", "val/response_ppl_best_ci95_low", "test/response_ppl_std"):
        assert frame[spread].isna().all(), spread
    assert (frame["paired"] == "reference").sum() == 1 and frame["paired_delta_nll"].notna().all()
    assert frame["runs"].iloc[0] == f"{chatbot_grid.name}/5"  # last_sys, seed 3: the best single run
    assert "(one seed: no interval)" in (tmp_path / "leaderboard.md").read_text(encoding="utf-8")


@pytest.mark.unit
def test_runs_that_differ_in_more_than_the_seed_stay_apart_and_ids_must_match(grid_copy: Path) -> None:
    runs = [read_run(p) for p in find_runs([grid_copy])]
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


@pytest.mark.unit
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
    grid_copy: Path, damage, reason: str
) -> None:
    runs = [read_run(p) for p in find_runs([grid_copy])]
    broken = runs[-1]
    predictions = broken.path / "test_predictions.csv"
    damage(pd.read_csv(predictions), predictions)
    rows = leaderboard.build([read_run(p) for p in find_runs([grid_copy])])[0]
    (row,) = [r for r in rows if broken.path in [run.path for run in r.runs]]
    assert row.paired is None and row.pair_note.startswith("not paired: ") and reason in row.pair_note
    (other,) = [r for r in rows if r is not row]
    assert other.pair_note == "reference" and other.paired is not None


@pytest.mark.unit
def test_rows_on_other_tokens_are_not_compared_per_token(grid_copy: Path) -> None:
    """The same dialogue ids with other response token counts (another tokenizer or max_length): the
    per-token NLLs do not compare, so the row is not paired with the best."""
    runs = [read_run(p) for p in find_runs([grid_copy])]
    _, other = leaderboard.build(runs)[0]
    for run in other.runs:
        predictions = run.path / "test_predictions.csv"
        frame = pd.read_csv(predictions)
        frame["response_tokens"] += 1
        frame.to_csv(predictions, index=False)
    rows = leaderboard.build([read_run(p) for p in find_runs([grid_copy])])[0]
    assert [r.pair_note for r in rows] == [
        "reference",
        "reference (other tokens on the same test examples: perplexities do not compare)",
    ]
    assert [r.paired.delta for r in rows] == [0, 0]


@pytest.mark.unit
def test_a_from_scratch_twin_reads_apart_from_its_pretrained_backbone(grid_copy: Path) -> None:
    """`model.pretrained: false` on the same backbone (the `_scratch` grids): the backbone column says
    `(random init)`, and the twin is a row of its own, not a fourth seed of its pretrained variant."""
    twin = find_runs([grid_copy])[0]
    shutil.rmtree(twin)
    chatbot_run(
        grid_copy, 0, ["data.label_mask=input", "seed=1", "trainer.max_epochs=2", "logger=csv", *JUDGED,
                       "+model.pretrained=false"],
        val_ppl=VAL_PPL["input", 1], nll=nll_of("input", 1), replies=replies_of("input", 1),
    )  # fmt: skip
    runs = [read_run(p) for p in find_runs([grid_copy])]
    assert {r.path: r.backbone for r in runs}[twin] == "tiny_gpt2 (random init)"
    assert {r.backbone for r in runs if r.path != twin} == {"tiny_gpt2"}
    rows = leaderboard.build(runs)[0]
    assert [[run.path for run in row.runs] for row in rows].count([twin]) == 1
    assert sorted(len(row.runs) for row in rows) == [1, 2, 3]
    assert "| tiny_gpt2 (random init) |" in leaderboard.samples_markdown(leaderboard.samples(rows))


@pytest.mark.unit
def test_classifier_runs_rank_by_macro_f1(
    classifier_grid: Path, chatbot_grid: Path, tmp_path: Path, capsys
) -> None:
    leaderboard.main([str(classifier_grid), str(chatbot_grid), "--output", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "## chatbot runs" in printed and "## classifier runs" in printed
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    classifier = frame[frame["task"] == "classifier"].reset_index(drop=True)
    assert len(classifier) == 2 and (classifier["seeds"] == 2).all()
    curves = {d: np.mean([CLASSIFIERS[d, s][0] for s in (1, 2)], axis=0) for d in (0.1, 0.5)}
    assert classifier["val/f1_macro"].tolist() == [
        " -> ".join(f"{v:.3f}" for v in curves[d]) for d in (0.5, 0.1)
    ]
    best = {d: [max(CLASSIFIERS[d, s][0]) for s in (1, 2)] for d in (0.1, 0.5)}
    assert classifier["val/f1_macro_best_mean"].tolist() == pytest.approx(
        [np.mean(best[0.5]), np.mean(best[0.1])]
    )
    assert classifier["paired"].tolist() == ["reference", "vs #1"]
    right = {d: np.array([[k in CLASSIFIERS[d, s][1] for k in range(len(EXAMPLES))] for s in (1, 2)])
             for d in (0.1, 0.5)}  # fmt: skip
    for n, dropout in enumerate((0.5, 0.1)):
        accuracies = right[dropout].mean(axis=1)
        assert classifier.loc[n, "test/acc_mean"] == pytest.approx(accuracies.mean())
    share = {d: r.mean(axis=0) for d, r in right.items()}  # per example, the share of seeds right
    assert classifier.loc[1, "paired_delta_acc"] == pytest.approx(share[0.1].mean() - share[0.5].mean())
    low, high = classifier.loc[1, ["paired_delta_ci95_low", "paired_delta_ci95_high"]]
    assert low <= classifier.loc[1, "paired_delta_acc"] <= high < 0 and classifier.loc[1, "significant"]
    decided = (share[0.1] != 0.5) & (share[0.5] != 0.5)  # majority votes, ties left out
    a, b = share[0.1][decided] > 0.5, share[0.5][decided] > 0.5
    p = stats.binomtest(int((a & ~b).sum()), int((a != b).sum()), 0.5).pvalue
    assert classifier["mcnemar_p"].tolist() == pytest.approx([1.0, p])


@pytest.mark.unit
def test_leaderboard_goes_to_wandb_offline(chatbot_grid: Path, tmp_path: Path) -> None:
    leaderboard.main([str(chatbot_grid), "--output", str(tmp_path), "--wandb"])
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


@pytest.mark.unit
def test_config_files_of_wandb_hydra_and_other_tasks_are_not_runs(grid_copy: Path) -> None:
    (grid_copy / "0" / "wandb" / "run-x" / "files").mkdir(parents=True)
    (grid_copy / "0" / "wandb" / "run-x" / "files" / "config.yaml").write_text("lr: 1\n", encoding="utf-8")
    (grid_copy / "eval-run").mkdir()
    (grid_copy / "eval-run" / "config.yaml").write_text("task_name: eval\ndata: null\n", encoding="utf-8")
    assert (grid_copy / "0" / ".hydra" / "config.yaml").is_file()  # Hydra's copy, beside every run's
    assert [p.name for p in find_runs([grid_copy])] == [str(n) for n in range(len(MASKS) * len(SEEDS))]
    with pytest.raises(leaderboard.MaeumError, match="not a maeum-train run"):
        find_runs([grid_copy / "eval-run"])


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


def _columns(path: Path) -> list[str]:
    return pd.read_csv(path, nrows=0).columns.tolist()


def _identity(run: leaderboard.Run) -> tuple:
    return run.task, run.backbone, run.data, run.label_mask, run.max_epochs, run.experiment, run.seed


@pytest.mark.e2e
def test_a_trained_multirun_is_read_end_to_end(main_run, trained_grid, tmp_path: Path, capsys) -> None:
    """The one real grid (`trained_grid`, trained in the background): 2 masks x 2 seeds of 2 epochs (2
    batches each) as a Hydra multirun with CSV and offline W&B logs, replies judged by the main job's
    classifier; read, grouped and written with the main job (a classifier) by `maeum-leaderboard`, and by
    the results notebook. The files that `helpers.run_dirs` writes for the other tests have the columns
    these have."""
    grid, job = trained_grid.result()
    seeds = GRID_SEEDS
    assert MASKS == GRID_MASKS
    runs = [read_run(p) for p in find_runs([grid])]
    assert [(r.label_mask, r.seed) for r in runs] == [(m, s) for m in MASKS for s in seeds]  # job order
    assert {(r.backbone, r.data, r.max_epochs, r.experiment) for r in runs} == {
        ("tiny_gpt2", "dialogue/sample", 2, "chatbot/sample_tiny")
    }
    ids = pd.read_csv(runs[0].path / "test_predictions.csv")["id"]
    assert ids.is_unique and all(
        i.split("-")[0] == str(n) and len(i.split("-")[1]) == 12 for n, i in enumerate(ids)
    )
    for run in runs:  # each file gives the run's logged test metrics, on the same dialogues in every run
        predictions = pd.read_csv(run.path / "test_predictions.csv")
        generations = pd.read_csv(run.path / "test_generations.csv", keep_default_na=False)
        assert predictions["id"].tolist() == generations["id"].tolist() == ids.tolist()
        ppl = math.exp(predictions["response_nll"].sum() / predictions["response_tokens"].sum())
        assert ppl == pytest.approx(run.final["test/response_ppl"], rel=1e-4)
        assert run.final["test/gen/chrf"] == pytest.approx(_chrf_of(run.path / "test_generations.csv"))
        selection = pd.read_csv(run.path / "test_selection.csv")
        assert selection["id"].tolist() == ids.tolist()
        assert run.final["test/select/hits_at_1"] == pytest.approx(selection["hit"].mean())
        assert run.epochs == 2 and run.final["val/response_ppl_best"] == pytest.approx(
            min(run.curves["val/response_ppl"]), rel=1e-5
        )

    # W&B's run file holds the CSV's trajectories, the multirun's group and the run's tags
    run_dir = runs[0].path
    from_csv = _per_epoch(_csv_rows(run_dir))[0]
    from_wandb = _per_epoch(wandb_rows(run_dir))[0]
    assert from_wandb["val/response_ppl"] == pytest.approx(from_csv["val/response_ppl"], rel=1e-5)
    assert from_wandb["train/loss_epoch"] == pytest.approx(from_csv["train/loss_epoch"], rel=1e-5)
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    (run,) = [r.run for r in read_wandb_records(run_file) if r.WhichOneof("record_type") == "run"][:1]
    assert run.run_group == grid.name  # the multirun's directory
    assert {"experiment:chatbot/sample_tiny", "mask:input", "epochs:2"} <= set(run.tags)

    # maeum-leaderboard on the grid and the main job
    out = tmp_path / "board"
    leaderboard.main([str(grid), str(main_run[0]), "--output", str(out)])
    printed = capsys.readouterr().out
    assert "## chatbot runs" in printed and "## classifier runs" in printed
    assert {p.name for p in out.iterdir()} >= {"leaderboard.md", "leaderboard.csv", "leaderboard.png",
                                               "leaderboard_samples.csv"}  # fmt: skip
    frame = pd.read_csv(out / "leaderboard.csv")
    chatbots, classifier = frame[frame["task"] == "chatbot"], frame[frame["task"] == "classifier"]
    assert sorted(chatbots["label mask"]) == sorted(MASKS) and chatbots["seeds"].tolist() == [2, 2]
    for column in ("train/loss", "val/loss", "val/response_ppl"):
        assert all(len(str(cell).split(" -> ")) == 2 for cell in chatbots[column]), column  # 2 epochs each
    for name in ("val/response_ppl_best", "test/response_ppl", "test/response_acc"):
        mean, std, low, high = (chatbots[f"{name}_{s}"] for s in ("mean", "std", "ci95_low", "ci95_high"))
        assert ((low <= mean) & (mean <= high)).all() and (std >= 0).all(), name
    assert (chatbots["val/response_ppl_best_std"] > 0).all()  # the seeds really differ
    best = chatbots["val/response_ppl_best_mean"].tolist()
    assert best == sorted(best) and all(v > 1 for v in best)
    for _, row in chatbots.iterrows():  # the mean of the runs' own best epochs, as the runs logged them
        members = [r for r in runs if r.label_mask == row["label mask"]]
        logged = [pd.read_csv(next(r.path.glob("csv/version_*/metrics.csv")))["val/response_ppl_best"].min()
                  for r in members]  # fmt: skip
        assert row["val/response_ppl_best_mean"] == pytest.approx(sum(logged) / len(seeds), rel=1e-4)
    assert (
        chatbots["paired"].tolist() == ["reference", "vs #1"] and chatbots["paired_delta_nll"].notna().all()
    )
    for metric in leaderboard.CHATBOT.generated:  # all 15, the emotion ones from the main job's classifier
        assert chatbots[f"{metric}_mean"].notna().all(), metric
    assert chatbots["test/select/hits_at_1_mean"].between(0, 1).all()
    assert chatbots["select paired"].tolist() == ["reference", "vs #1"]
    assert len(classifier) == 1 and classifier["paired"].tolist() == ["reference"]
    assert classifier["val/f1_macro_best_mean"].between(0, 1).all()

    # the classifier's predictions: every test example, and the accuracy it logged
    predictions = pd.read_csv(main_run[0] / "test_predictions.csv")
    acc = pd.read_csv(next(main_run[0].glob("csv/version_*/metrics.csv")))["test/acc"].dropna().iloc[-1]
    assert len(predictions) == 36 and predictions["correct"].mean() == pytest.approx(acc, abs=1e-6)
    assert (predictions["correct"] == (predictions["label"] == predictions["predicted"])).all()

    # what helpers.run_dirs writes has what training wrote: the files, their columns, the run's identity
    written = chatbot_run(
        tmp_path / "written", 0, ["data.label_mask=input", "seed=1", *job],
        val_ppl=(9.0, 8.0), nll=nll_of("input", 1), replies=replies_of("input", 1), hits=[1, 0] * 3 + [1],
    )  # fmt: skip
    trained = runs[0].path
    for name in ("csv/version_0/metrics.csv", "test_predictions.csv", "test_generations.csv",
                 "test_selection.csv"):  # fmt: skip
        assert _columns(written / name) == _columns(trained / name), name
    about = [
        json.loads((d / "test_generations.json").read_text(encoding="utf-8")) for d in (written, trained)
    ]
    assert about[0].keys() == about[1].keys() and about[0]["preset"] == about[1]["preset"]
    assert about[0]["metrics"].keys() == about[1]["metrics"].keys()
    about = [json.loads((d / "test_selection.json").read_text(encoding="utf-8")) for d in (written, trained)]
    assert about[0].keys() == about[1].keys() and about[0]["metrics"].keys() == about[1]["metrics"].keys()
    for name in ("config.yaml", ".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"):
        assert (written / name).is_file(), name
    resolved = [yaml.safe_load((d / "config.yaml").read_text(encoding="utf-8")) for d in (written, trained)]
    assert resolved[0].keys() == resolved[1].keys() and resolved[0]["tags"] == resolved[1]["tags"]
    assert _identity(read_run(written)) == _identity(runs[0]) and _hydra_choices(written) == _hydra_choices(
        trained
    )
    written = classifier_run(tmp_path / "written", 1, [], val_f1=(0.2, 0.3),
                             predicted=[WRONG[label] for _, label in EXAMPLES])  # fmt: skip
    for name in ("csv/version_0/metrics.csv", "test_predictions.csv", "per_class.csv", "errors.csv"):
        assert _columns(written / name) == _columns(main_run[0] / name), name

    # the results notebook, on the grid and the main job
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = REPO / "notebooks" / "leaderboard.ipynb"
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # stripped
    os.environ["MAEUM_LEADERBOARD_DIRS"] = os.pathsep.join(str(d) for d in (grid, main_run[0]))
    try:
        nbclient.NotebookClient(
            notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        del os.environ["MAEUM_LEADERBOARD_DIRS"]
    text = "".join(
        str(output.get("text", "")) for cell in notebook.cells for output in cell.get("outputs", [])
    )
    assert "5 runs in 3 rows" in text and "1 confusion matrices" in text
    images = [
        o for cell in notebook.cells for o in cell.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2 + 1  # the curves and intervals of both tasks, the main job's confusion matrix
    assert (grid / "leaderboard.csv").is_file()  # the notebook wrote what it did not find


@pytest.fixture(scope="session")
def chat_template_grid(tmp_path_factory: pytest.TempPathFactory, main_run) -> Path:
    """The chatbot grid in tiny_llama3's chat template, with LoRA (slow: about 3 minutes)."""
    root = tmp_path_factory.mktemp("grids-chat-template")
    multirun_subprocess(
        root, *LORA_CHATBOT, f"data.label_mask={','.join(MASKS)}",
        f"seed={','.join(map(str, SEEDS))}", "trainer.max_epochs=2", "+trainer.limit_train_batches=2",
        "callbacks.early_stopping=null", "logger=csv", f"emotion_classifier={best_checkpoint(main_run[0])}",
    )  # fmt: skip
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
@pytest.mark.slow  # the optional Optuna sweeper (maeum[optuna]); its configs compose in the unit tests
def test_optuna_search_of_three_trials_writes_its_results(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the optional extra maeum[optuna]")
    sweep = tmp_path / "optuna"
    proc = multirun_subprocess(
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
