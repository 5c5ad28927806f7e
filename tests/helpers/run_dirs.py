"""maeum-train run directories written without training, in the formats training writes them: what
`maeum-leaderboard` reads, with every value chosen by the test.

A run is job `job` of a Hydra multirun into `grid` (`grid/<job>/`), written with the writers that training
itself uses wherever they can run without a model:

- its configs from a real `compose()` of `conf/train.yaml` with the job's overrides, saved as Hydra's
  basic launcher and `run_job` save them (`.hydra/config.yaml` unresolved, `.hydra/hydra.yaml` with
  `hydra.runtime.choices`, `.hydra/overrides.yaml`), then tagged and saved resolved as `maeum.train` does
  (`tag_run`, `save_resolved_config`: `config.yaml`);
- `csv/version_0/metrics.csv` through the run's own `logger.csv` (Lightning's `CSVLogger`), one row per
  logged step and epoch in the order a fit and a test log them;
- a chatbot's `test_predictions.csv` in `ResponseReport`'s columns, and its `test_generations.csv`/`.json`
  through the run's own `callbacks.test_generations` (`TestGenerations`: its preset, its `_write`), the
  replies scored by `maeum.metrics.text.score_replies` and judged by `TestGenerations._judge_emotion`;
  its `test_selection.csv`/`.json` through the run's own `callbacks.reply_selection` (`ReplySelection`:
  its distractors' draw, its rows and its `_write`), with scores that rank each reference as chosen;
- a classifier's `test_predictions.csv`, `per_class.csv`, `errors.csv` and `confusion_matrix.png` through
  `maeum.training.reports.write_reports`.

Test example ids are `SplitDataModule.test_ids`' (`<n>-<sha1[:12]>` of each example's content). The logged
test metrics follow from the files, as the modules compute them: `test/response_ppl` is
`exp(sum nll / sum tokens)` of `test_predictions.csv`, `test/gen/*` are `score_replies`' and the judge's,
a classifier's `test/acc` and `test/f1_macro` are torchmetrics' on its predictions.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import _save_config
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from helpers.configs import REPO, compose_config
from maeum.data.datamodule import SplitDataModule
from maeum.data.dialogue.records import Dialogue, Turn
from maeum.metrics.text import score_replies
from maeum.runs.files import RANKED, TEST_PREDICTIONS, generations_stem, reply_metric, selection_metric
from maeum.runs.kinds import kind_of
from maeum.runtime import save_resolved_config, tag_run
from maeum.training.reply_selection import draw_distractors, selection_frame, selection_metrics
from maeum.training.reports import write_reports

CHATBOT = ("experiment=chatbot/sample_tiny",)  # tiny_gpt2 on the bundled dialogues
CLASSIFIER = ()  # the main job: the emotion classifier on the bundled sample
JUDGE = "/판정/감정 분류기 (테스트).ckpt"  # the `emotion_classifier` the judged chatbots name (never loaded)
EMOTIONS = ("분노", "슬픔", "불안", "상처", "당황", "기쁨")  # the judge's labels (the bundled sample's)

# The chatbots' test dialogues: (condition, turns), the last turn the reference reply
DIALOGUES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("분노", (("usr", "배달이 두 시간이나 늦었는데 사과 한마디 없더라."),
             ("sys", "기다린 시간이 아깝고 화가 나셨겠네요."))),
    ("슬픔", (("usr", "요즘 그냥 아무것도 하기 싫어."),
             ("sys", "마음이 많이 지치셨나 봐요. 언제부터 그러셨어요?"),
             ("usr", "한 달쯤 된 것 같아."),
             ("sys", "오래 힘드셨네요. 가까운 사람에게 이야기해 보는 건 어때요?"))),
    ("불안", (("usr", "내일 면접인데 떨려서 잠이 안 와."),
             ("sys", "긴장되는 건 당연해요. 준비한 만큼 잘 해내실 거예요."))),
    ("기쁨", (("usr", "드디어 취직했어!"), ("sys", "정말 축하해요! 그동안 고생 많으셨어요."))),
    ("상처", (("usr", "친구가 내 험담을 하고 다녔대."), ("sys", "믿었던 친구라서 더 속상하셨겠어요."))),
    ("당황", (("usr", "회의 중에 갑자기 내 이름이 불렸어."), ("sys", "갑작스러워서 많이 당황하셨겠어요."))),
    ("기쁨", (("usr", "오늘 부모님께 선물을 드렸어."), ("sys", "부모님께서 정말 기뻐하셨겠네요."))),
)  # fmt: skip
REFERENCES = tuple(turns[-1][1] for _, turns in DIALOGUES)
# each reference's response tokens (its words and `</s>`), what per-token NLLs divide by
TOKENS = tuple(len(reference.split()) + 1 for reference in REFERENCES)

# The classifiers' test examples: (text, label)
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("거짓말을 또 들켰는데도 뻔뻔하게 구는 게 화나.", "분노"),
    ("고객센터에 다섯 번이나 전화했는데 아무도 안 받아.", "분노"),
    ("키우던 강아지가 무지개다리를 건넜어.", "슬픔"),
    ("이번 시험도 떨어졌어. 너무 속상해.", "슬픔"),
    ("건강검진 결과가 아직 안 나와서 걱정돼.", "불안"),
    ("다음 주 발표가 잘 될지 모르겠어.", "불안"),
    ("믿었던 동료가 내 아이디어를 가로챘어.", "상처"),
    ("가족들이 내 말을 전혀 들어주지 않아.", "상처"),
    ("지하철에서 모르는 사람이 내 이름을 불렀어.", "당황"),
    ("발표 중에 화면이 갑자기 꺼졌어.", "당황"),
    ("오늘 월급이 올랐어!", "기쁨"),
    ("오랜만에 친구들이랑 여행 가서 너무 즐거웠어.", "기쁨"),
)


def example_ids(keys: Sequence[str]) -> list[str]:
    """The ids `SplitDataModule.test_ids` gives test examples of these contents, in this order."""
    holder = type("TestKeys", (), {"_test_keys": lambda self: list(keys)})()
    return SplitDataModule.test_ids(holder)


def dialogue_ids(dialogues: Sequence[tuple[str, Sequence[tuple[str, str]]]] = DIALOGUES) -> list[str]:
    """The test ids of dialogues, from their content as `DialogueDataModule._test_keys` writes it."""
    return example_ids(
        [json.dumps([c, [[s, t] for s, t in turns]], ensure_ascii=False) for c, turns in dialogues]
    )


def classifier_ids(examples: Sequence[tuple[str, str]] = EXAMPLES) -> list[str]:
    """The test ids of classifier examples, from their label and text as
    `ClassificationDataModule._test_keys` writes them."""
    return example_ids([f"{label}\t{text}" for text, label in examples])


def quoted(path: str | Path) -> str:
    """A path as a quoted Hydra override value (Hangul, spaces and parentheses included)."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


JUDGED = (f"emotion_classifier={quoted(JUDGE)}",)  # the override of a chatbot whose replies `JUDGE` judges


def write_config(grid: Path, job: int, overrides: Sequence[str]) -> DictConfig:
    """Job `job` of a multirun into `grid` with `overrides`, composed and saved as Hydra's basic launcher,
    `run_job` and then `maeum.train` save it; returns the run's resolved config."""
    cfg = compose_config(
        "train",
        REPO,  # its literal run paths are set back to conf/paths/default.yaml's below, as a sweep has them
        [
            "paths.root_dir=${maeum.cwd:}",
            "paths.log_dir=${paths.root_dir}/logs",
            "paths.output_dir=${hydra:runtime.output_dir}",
            *overrides,
            f"hydra.sweep.dir={quoted(grid)}",
            "hydra.mode=MULTIRUN",
        ],
        return_hydra_config=True,
    )
    with open_dict(cfg):  # what the basic launcher sets
        cfg.hydra.job.id = job
        cfg.hydra.job.num = job
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):  # what run_job sets
        cfg.hydra.runtime.output_dir = str(grid / str(cfg.hydra.sweep.subdir))
    saved = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)
    try:
        task_cfg = copy.deepcopy(cfg)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        hydra_output = Path(cfg.hydra.runtime.output_dir) / str(cfg.hydra.output_subdir)
        _save_config(task_cfg, "config.yaml", hydra_output)
        _save_config(copy.deepcopy(HydraConfig.instance().cfg), "hydra.yaml", hydra_output)
        _save_config(cfg.hydra.overrides.task, "overrides.yaml", hydra_output)
        tag_run(task_cfg)  # maeum.train's first steps
        path = save_resolved_config(task_cfg)
    finally:
        HydraConfig.instance().cfg = saved
    return OmegaConf.load(path)


def write_metrics(
    cfg: DictConfig,
    train: Sequence[Mapping[str, float]],
    val: Sequence[Mapping[str, float]],
    test: Mapping[str, float],
    steps: int = 2,
) -> Path:
    """`csv/version_0/metrics.csv` through the run's `logger.csv`, as a fit of `len(val)` epochs of `steps`
    batches and a test log it: every `trainer.log_every_n_steps` steps the learning rate of both parameter
    groups (`LearningRateMonitor`, `maeum.models.optim.param_groups`) and `train/loss_step`; per epoch the
    validation metrics with the running best of the ranked one (`<metric>_best`), then the training
    epoch's metrics (`train/loss` as `train/loss_epoch`); then `test` (each `train`/`val`/`test` key as the
    module logs it, e.g. `val/response_ppl`)."""
    logger = instantiate(cfg.logger.csv)
    metric, mode = RANKED[kind_of(cfg).name]
    every = int(cfg.trainer.get("log_every_n_steps") or 50)
    best = None
    for epoch, (trained, validated) in enumerate(zip(train, val, strict=True)):
        for step in range(epoch * steps, (epoch + 1) * steps):
            if (step + 1) % every == 0:
                logger.log_metrics({"lr-AdamW/pg1": 1e-3, "lr-AdamW/pg2": 1e-3}, step=step)  # 2 groups
                logger.log_metrics({"train/loss_step": trained["train/loss"], "epoch": epoch}, step=step)
        last = (epoch + 1) * steps - 1
        value = validated[metric]
        best = value if best is None else (min if mode == "min" else max)(best, value)
        logger.log_metrics({**validated, f"{metric}_best": best, "epoch": epoch}, step=last)
        epoch_metrics = {(k if k != "train/loss" else "train/loss_epoch"): v for k, v in trained.items()}
        logger.log_metrics({**epoch_metrics, "epoch": epoch}, step=last)
    logger.log_metrics({**test, "epoch": len(val)}, step=len(val) * steps)
    logger.finalize("success")
    (path,) = Path(logger.log_dir).glob("metrics.csv")
    return path


class EmotionJudge:
    """The emotion classifier a judged chatbot's `TestGenerations` asks (`Predictor`'s `labels` and
    `predict`): each reference is labelled with its dialogue's condition, every other text as `said` says,
    else by its length."""

    def __init__(self, labels: Sequence[str], said: Mapping[str, str] | None = None) -> None:
        self.labels = list(labels)
        self.said = {ref: condition for ref, (condition, _) in zip(REFERENCES, DIALOGUES, strict=True)}
        self.said.update(said or {})

    def predict(self, texts: Sequence[str]) -> list[dict]:
        found = []
        for text in texts:
            label = self.said.get(text, self.labels[len(text) % len(self.labels)])
            found.append({"text": text, "label": label, "probs": {x: 0.9 if x == label else 0.02
                                                                  for x in self.labels}})  # fmt: skip
        return found


def write_generations(
    cfg: DictConfig,
    replies: Sequence[str],
    stops: Sequence[str] | None = None,
    said: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """The run's replies to `DIALOGUES` (`test_generations.csv`/`.json`) through its own
    `callbacks.test_generations`, as its `on_test_epoch_end` writes them; returns the logged `test/gen/*`.
    With `emotion_classifier` in the run's config, `EmotionJudge(said)` judges them."""
    callback = instantiate(cfg.callbacks.test_generations)
    stops = list(stops or ["eos"] * len(replies))
    prompts = [turns[:-1] for _, turns in DIALOGUES]
    frame = pd.DataFrame(
        {
            "id": dialogue_ids(),
            "condition": [condition for condition, _ in DIALOGUES],
            "history": [" / ".join(f"{s}: {t}" for s, t in turns) for turns in prompts],
            "reference": list(REFERENCES),
            "reply": list(replies),
            "reply_tokens": [len(r.split()) + 1 for r in replies],
            "stop": stops,
        }
    )
    scored = score_replies(frame["reply"], frame["reference"], [turns[-1][1] for turns in prompts], stops)
    frame = pd.concat([frame, scored.per_reply], axis=1)
    metrics, notes, summary = dict(scored.corpus), list(scored.notes), {}
    if callback.emotion_classifier:
        callback._predictor = EmotionJudge(EMOTIONS, said)
        emotion, summary = callback._judge_emotion(frame, notes)
        frame = pd.concat([frame, emotion], axis=1)
        metrics.update(summary.pop("metrics"))
    stem = generations_stem(len(frame), len(DIALOGUES))
    callback._write(frame, stem, metrics, summary, notes, len(DIALOGUES))
    return {reply_metric(name): float(value) for name, value in metrics.items()}


def write_selection(
    cfg: DictConfig, hits: Sequence[int], order: Sequence[int] | None = None
) -> dict[str, float]:
    """The run's reply selection on `DIALOGUES` (`test_selection.csv`/`.json`) through its own
    `callbacks.reply_selection`, its distractors drawn as it draws them: each reference scores -1 (rank 1)
    where `hits` says 1, else -3 below a first distractor's -2 (rank 2); the other distractors score -4.
    `order` writes the rows in another order (the ids say which dialogue a row is). Returns the logged
    `test/select/*`."""
    callback = instantiate(cfg.callbacks.reply_selection)
    k = callback.num_distractors
    prompts = [(Dialogue([Turn(s, t) for s, t in turns[:-1]], c), turns[-1][1]) for c, turns in DIALOGUES]
    distractors = draw_distractors(REFERENCES, REFERENCES, k, callback.seed)
    ranked = zip(hits, distractors, strict=True)
    scores = [[-1.0 if hit else -3.0, -2.0, *[-4.0] * (len(d) - 1)] for hit, d in ranked]
    frame = selection_frame(dialogue_ids(), prompts, distractors, scores, k)
    metrics = selection_metrics(frame)
    callback._write(frame.iloc[list(order)] if order is not None else frame, metrics, [], len(DIALOGUES))
    return {selection_metric(name): value for name, value in metrics.items()}


def chatbot_run(
    grid: Path,
    job: int,
    overrides: Sequence[str] = (),
    *,
    val_ppl: Sequence[float],
    nll: Sequence[float],
    tokens: Sequence[int] = TOKENS,
    replies: Sequence[str] | None = None,
    stops: Sequence[str] | None = None,
    said: Mapping[str, str] | None = None,
    hits: Sequence[int] | None = None,
    order: Sequence[int] | None = None,
    test_acc: float = 0.25,
    steps: int = 2,
) -> Path:
    """A tested chatbot (`CHATBOT` with `overrides`) of `len(val_ppl)` epochs: `val/response_ppl` per epoch
    is `val_ppl` (`val/loss` its log plus 0.5, `train/loss` that plus 0.1); each test dialogue's response
    NLL and tokens are `nll` and `tokens` (`test_predictions.csv`, and `test/response_ppl` from them); its
    replies (None: no test generations) are scored and judged as in training; `hits` (None: no reply
    selection) say which references its reply selection ranks first (`write_selection`)."""
    cfg = write_config(grid, job, [*CHATBOT, *overrides])
    run_dir = Path(cfg.paths.output_dir)
    ids = dialogue_ids()
    pd.DataFrame(  # ResponseReport.report's frame
        {
            "id": ids,
            "condition": [condition for condition, _ in DIALOGUES],
            "reference": list(REFERENCES),
            "response_tokens": list(tokens),
            "response_nll": list(nll),
        }
    ).to_csv(run_dir / TEST_PREDICTIONS, index=False)
    ppl = math.exp(sum(nll) / sum(tokens))
    test = {"test/loss": math.log(ppl) + 0.5, "test/response_acc": test_acc, "test/response_ppl": ppl}
    if replies is not None:
        test.update(write_generations(cfg, replies, stops, said))
    if hits is not None:
        test.update(write_selection(cfg, hits, order))
    val = [
        {"val/loss": math.log(p) + 0.5, "val/response_acc": test_acc, "val/response_ppl": p} for p in val_ppl
    ]
    train = [{"train/loss": v["val/loss"] + 0.1} for v in val]
    write_metrics(cfg, train, val, test, steps)
    return run_dir


def classifier_run(
    grid: Path,
    job: int,
    overrides: Sequence[str] = (),
    *,
    val_f1: Sequence[float],
    predicted: Sequence[str],
    steps: int = 11,
) -> Path:
    """A tested classifier (`CLASSIFIER` with `overrides`) of `len(val_f1)` epochs: `val/f1_macro` per epoch
    is `val_f1` (`val/acc` the same, `val/loss` one minus it); its prediction for each of `EXAMPLES` is
    `predicted` (a label), written by `write_reports` with the ids training gives them."""
    cfg = write_config(grid, job, [*CLASSIFIER, *overrides])
    run_dir = Path(cfg.paths.output_dir)
    labels = list(cfg.data.labels)
    target = torch.tensor([labels.index(label) for _, label in EXAMPLES])
    preds = torch.tensor([labels.index(label) for label in predicted])
    probs = torch.full((len(EXAMPLES), len(labels)), 0.1 / (len(labels) - 1))
    probs[torch.arange(len(EXAMPLES)), preds] = 0.9
    write_reports(run_dir, probs, target, labels, [text for text, _ in EXAMPLES], classifier_ids())
    n = len(labels)
    majority = torch.full_like(target, int(target.mode().values))
    test = {
        "test/acc": float(multiclass_accuracy(preds, target, n, average="micro")),
        "test/f1_macro": float(multiclass_f1_score(preds, target, n, average="macro")),
        "test/loss": 1.0,
        # the majority-class baseline that maeum-train logs after the test (here: the examples' own)
        "test/majority_acc": float(multiclass_accuracy(majority, target, n, average="micro")),
        "test/majority_f1_macro": float(multiclass_f1_score(majority, target, n, average="macro")),
    }
    val = [{"val/loss": 1 - f1, "val/acc": f1, "val/f1_macro": f1} for f1 in val_f1]
    train = [
        {"train/loss": v["val/loss"] + 0.1, "train/acc": v["val/acc"], "train/f1_macro": v["val/f1_macro"]}
        for v in val
    ]
    write_metrics(cfg, train, val, test, steps)
    return run_dir
