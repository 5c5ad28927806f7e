"""maeum-eval: re-testing a checkpoint reproduces its metrics; wrong use gets one clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.configs import compose_config

from maeum.analysis.leaderboard import read_run
from maeum.errors import MaeumError
from maeum.eval import evaluate
from maeum.train import train
from maeum.training.checks import check_resume_split


def best_checkpoint(run_dir: Path) -> Path:
    (best,) = run_dir.glob("checkpoints/epoch_*.ckpt")
    return best


@pytest.mark.e2e
@pytest.mark.parametrize("data", [None, "classify/sample"], ids=["data-from-checkpoint", "data-chosen"])
def test_eval_reproduces_the_test_metrics(main_run, tmp_path: Path, data: str | None) -> None:
    run_dir, metrics = main_run
    overrides = [f"ckpt_path={best_checkpoint(run_dir)}", *([f"data={data}"] if data else [])]
    again = evaluate(compose_config("eval", tmp_path, overrides))
    for name in ("test/acc", "test/f1_macro", "test/loss"):
        assert again[name] == pytest.approx(metrics[name], abs=1e-6), name
    assert (tmp_path / "config.yaml").is_file()


@pytest.mark.e2e
def test_eval_refuses_data_with_other_labels(main_run, tmp_path: Path, caplog) -> None:
    run_dir, _ = main_run
    corpus = tmp_path / "other.tsv"
    corpus.write_text(
        "text\tlabel\n" + "".join(f"문장 {i}\t{'긍정' if i % 2 else '부정'}\n" for i in range(20))
    )
    cfg = compose_config(
        "eval",
        tmp_path,
        [
            f"ckpt_path={best_checkpoint(run_dir)}",
            "data=classify/sample",
            f"data.path={corpus}",
            "data.labels=null",
        ],
    )
    with pytest.raises(SystemExit):
        evaluate(cfg)
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "differ from the data's ['긍정', '부정']" in error


@pytest.mark.unit
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            [],
            "give ckpt_path=CKPT to re-test a trained run, or measure a causal backbone's bits per character",
        ),
        (["ckpt_path=/no/such.ckpt"], "checkpoint not found: /no/such.ckpt."),
    ],
    ids=["no-ckpt-path", "missing-file"],
)
def test_eval_without_a_checkpoint(tmp_path: Path, caplog, overrides: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        evaluate(compose_config("eval", tmp_path, overrides))
    assert exit_info.value.code == 1
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert error.startswith(message)


@pytest.mark.e2e
def test_eval_writes_the_test_reports(main_run, tmp_path: Path) -> None:
    run_dir, _ = main_run
    evaluate(compose_config("eval", tmp_path, [f"ckpt_path={best_checkpoint(run_dir)}"]))
    for name in ("per_class.csv", "test_predictions.csv", "errors.csv", "confusion_matrix.png"):
        assert (tmp_path / name).read_bytes() == (run_dir / name).read_bytes(), name


@pytest.mark.e2e
def test_eval_of_a_chatbot_writes_its_test_predictions(chatbot_run: Path, tmp_path: Path) -> None:
    """Re-testing the trained chatbot reproduces its test_predictions.csv and its reply selection
    (test_selection.csv: the same candidates, their scores; test/select/* in both runs' metrics)."""
    metrics = evaluate(compose_config("eval", tmp_path, [f"ckpt_path={best_checkpoint(chatbot_run)}"]))
    written, trained = (pd.read_csv(d / "test_predictions.csv") for d in (tmp_path, chatbot_run))
    assert written["id"].tolist() == trained["id"].tolist() and written["id"].is_unique
    assert written["response_nll"].to_numpy() == pytest.approx(trained["response_nll"].to_numpy(), rel=1e-5)
    selected, trained_selected = (
        pd.read_csv(d / "test_selection.csv", keep_default_na=False) for d in (tmp_path, chatbot_run)
    )
    assert selected["id"].tolist() == written["id"].tolist()
    scores = [c for c in selected.columns if c.endswith("_score")]
    assert len(scores) == 5 and selected.drop(columns=scores).equals(trained_selected.drop(columns=scores))
    assert selected[scores].to_numpy(float) == pytest.approx(
        trained_selected[scores].to_numpy(float), abs=1e-5
    )
    assert metrics["test/select/hits_at_1"] == pytest.approx(selected["hit"].mean())
    assert metrics["test/select/mean_rank"] == pytest.approx(selected["rank"].mean())
    logged = read_run(chatbot_run).final  # the training run's test stage logged them too (offline W&B)
    assert logged["test/select/hits_at_1"] == pytest.approx(trained_selected["hit"].mean())


@pytest.mark.e2e
def test_resuming_on_another_split_than_the_checkpoints_is_refused(main_run, tmp_path: Path) -> None:
    run_dir, _ = main_run
    cfg = compose_config("train", tmp_path, [f"ckpt_path={best_checkpoint(run_dir)}", "data.seed=7"])
    with pytest.raises(MaeumError, match=r"add data\.seed=42 to resume it on its own split"):
        check_resume_split(cfg)
    check_resume_split(compose_config("train", tmp_path, [f"ckpt_path={best_checkpoint(run_dir)}"]))


@pytest.mark.e2e
def test_eval_of_the_bundled_pair_generates_scores_and_judges_every_test_reply(
    chatbot_run: Path, main_run, tmp_path: Path
) -> None:
    """`maeum-eval ckpt_path=CHATBOT emotion_classifier=CLASSIFIER` on the bundled sample pair: one reply
    per test dialogue under the ids of test_predictions.csv, scored, each labelled by the classifier."""
    classifier = best_checkpoint(main_run[0])
    overrides = [f"ckpt_path={best_checkpoint(chatbot_run)}", f"emotion_classifier={classifier}"]
    metrics = evaluate(compose_config("eval", tmp_path, overrides))
    generations = pd.read_csv(tmp_path / "test_generations.csv", keep_default_na=False)
    predictions = pd.read_csv(tmp_path / "test_predictions.csv")
    assert generations["id"].tolist() == predictions["id"].tolist() and len(generations) == 7
    assert set(generations["stop"]) <= {"eos", "usr", "max_new_tokens"}
    assert (generations["reply_tokens"] <= 32).all()  # the preset's max_new_tokens
    labels = {"분노", "슬픔", "불안", "상처", "당황", "기쁨"}
    assert set(generations["reference_label"]) <= labels and set(generations["reply_label"]) <= labels | {""}
    for name in ("emotion_agreement", "condition_match", "condition_match_reference", "distinct_2"):
        assert 0 <= metrics[f"test/gen/{name}"] <= 1, name  # shares
    assert 0 <= metrics["test/gen/chrf"] <= 100  # sacrebleu's scale
    shared = generations["reference_label"] != ""
    agreement = (generations["reply_label"] == generations["reference_label"])[shared].mean()
    assert metrics["test/gen/emotion_agreement"] == pytest.approx(agreement)
    conditioned = generations["condition"].isin(labels)  # one sample dialogue has no condition
    match = (generations["reply_label"] == generations["condition"])[conditioned].mean()
    assert metrics["test/gen/condition_match"] == pytest.approx(match)
    about = json.loads((tmp_path / "test_generations.json").read_text(encoding="utf-8"))
    assert about["preset"] == {"do_sample": False, "min_new_tokens": 0, "max_new_tokens": 32}
    assert sum(about["reference_labels"].values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.e2e
def test_capped_and_switched_off_generation(chatbot_run: Path, tmp_path: Path) -> None:
    ckpt = f"ckpt_path={best_checkpoint(chatbot_run)}"
    evaluate(
        compose_config("eval", tmp_path / "capped", [ckpt, "callbacks.test_generations.max_dialogues=3"])
    )
    assert not (tmp_path / "capped" / "test_generations.csv").exists()  # a capped file never pairs as whole
    capped = pd.read_csv(tmp_path / "capped" / "test_generations.first-3.csv")
    assert len(capped) == 3
    metrics = evaluate(
        compose_config("eval", tmp_path / "off", [ckpt, "callbacks.test_generations.enabled=false"])
    )
    assert not list((tmp_path / "off").glob("test_generations*")) and not any("/gen/" in m for m in metrics)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("judge", "message"),
    [("chatbot", "is a chatbot: give a maeum classifier"), ("missing", "not found: ")],
)
def test_an_emotion_classifier_that_is_no_classifier_is_one_message(
    chatbot_run: Path, tmp_path: Path, caplog, judge: str, message: str
) -> None:
    path = best_checkpoint(chatbot_run) if judge == "chatbot" else tmp_path / "없는 분류기 (v2).ckpt"
    cfg = compose_config(
        "eval", tmp_path, [f"ckpt_path={best_checkpoint(chatbot_run)}", f"emotion_classifier='{path}'"]
    )
    with pytest.raises(SystemExit):
        evaluate(cfg)
    assert message in caplog.text and "Traceback" not in caplog.text


@pytest.mark.e2e
def test_a_classifier_whose_labels_are_no_conditions_still_gives_the_agreement(
    chatbot_run: Path, wellness, tmp_path: Path, caplog
) -> None:
    """The wellness intent classifier judging the emotion-conditioned sample chatbot: no condition is one
    of its labels, so the condition match is skipped with the reason, once; the agreement is computed."""
    classifier, _ = wellness
    overrides = [f"ckpt_path={best_checkpoint(chatbot_run)}", f"emotion_classifier='{classifier}'"]
    with caplog.at_level("INFO"):
        metrics = evaluate(compose_config("eval", tmp_path, overrides))
    assert 0 <= metrics["test/gen/emotion_agreement"] <= 1 and "test/gen/condition_match" not in metrics
    assert caplog.text.count("condition_match is skipped: the dialogues' conditions") == 1
    about = json.loads((tmp_path / "test_generations.json").read_text(encoding="utf-8"))
    assert any("condition_match is skipped" in note for note in about["notes"])


@pytest.mark.e2e
def test_an_empty_test_split_says_that_no_reply_was_generated(tmp_path: Path, caplog) -> None:
    overrides = ["experiment=chatbot/sample_tiny", "train=false", "data.test_fraction=0", "~logger"]
    with caplog.at_level("WARNING"):
        train(compose_config("train", tmp_path, overrides))
    assert caplog.text.count("The test split has no dialogues: no replies generated") == 1
    assert not list(tmp_path.glob("test_generations*"))
