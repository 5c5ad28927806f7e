"""What a chatbot says to its test dialogues: `TestGenerations`, the test-time report beside
`ResponseReport`.

After every chatbot test (`maeum-train`'s test stage, `maeum-eval`) it answers each test dialogue's final
system turn, with that turn's history and condition as in chat, through `ReplyGenerator` (batched
`model.generate` with the KV cache) under a recorded evaluation preset, scores the replies in Korean
(`maeum.metrics.text`) and, with an emotion classifier, judges their emotion. It writes
`test_generations.csv` (one row per test dialogue, under the ids of `test_predictions.csv`) and
`test_generations.json` (the preset, the metrics and the reference labels' distribution), and logs
`test/gen/<metric>`. A capped run (`max_dialogues`) writes `test_generations.first-<N>.csv`, so it never
pairs with an uncapped one.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.loggers import WandbLogger

from maeum.errors import MaeumError
from maeum.inference.generation import GREEDY, generate_replies
from maeum.inference.loading import load_classifier, task_of
from maeum.inference.prediction import Predictor
from maeum.metrics.text import score_replies
from maeum.runs.files import generations_stem, reply_metric
from maeum.training.callbacks import CountsTestExamples

log = logging.getLogger(__name__)
# greedy, and no minimum length: a model that can only say `</s>` must show as empty replies
EVALUATION = {**GREEDY, "min_new_tokens": 0}


class TestGenerations(CountsTestExamples):
    """Replies to every test dialogue, scored (see the module docstring).

    Args:
        output_dir: where the files go (the run's directory).
        enabled: `false` generates nothing.
        max_dialogues: generate for the first N test dialogues only (None: all of them).
        preset: `transformers.GenerationConfig` fields: greedy with 32 new tokens at most by default.
        seed: the generation seed when the preset samples.
        batch_size: dialogues per `generate` call.
        emotion_classifier: a maeum classifier (checkpoint or export) that labels every reply and
            reference: `test/gen/emotion_agreement` and `test/gen/condition_match`.
    """

    def __init__(
        self,
        output_dir: str,
        enabled: bool = True,
        max_dialogues: int | None = None,
        preset: Mapping[str, Any] | None = None,
        seed: int = 0,
        batch_size: int = 128,
        emotion_classifier: str | None = None,
    ) -> None:
        if max_dialogues is not None and max_dialogues < 1:
            raise MaeumError(
                f"callbacks.test_generations.max_dialogues must be 1 or more, not {max_dialogues}"
            )
        self.output_dir = Path(output_dir)
        self.enabled = enabled
        self.max_dialogues = max_dialogues
        self.preset = dict(preset) if preset is not None else dict(EVALUATION)
        self.seed = seed
        self.batch_size = batch_size
        # resolved, so that one classifier given by relative and absolute paths pairs in the leaderboard
        self.emotion_classifier = (
            str(Path(emotion_classifier).expanduser().resolve()) if emotion_classifier else None
        )
        self._predictor: Predictor | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Load the emotion classifier before training starts: a wrong path fails at once, not at test.
        Before a test, say so when the test split is empty (Lightning then skips the test loop)."""
        corpus = getattr(getattr(trainer, "datamodule", None), "corpus", None)
        if stage == "test" and self.enabled and hasattr(corpus, "dialogues") and not corpus.split("test"):
            log.warning(
                "The test split has no dialogues: no replies generated (test_generations). Give "
                "data.test_path or a data.test_fraction above 0."
            )
        if self.enabled and self.emotion_classifier and self._predictor is None:
            try:
                kind = task_of(self.emotion_classifier)
                if kind == "classifier" and trainer.is_global_zero:  # rank 0 generates and judges
                    self._predictor = Predictor.from_classifier(load_classifier(self.emotion_classifier))
            except MaeumError as err:
                raise MaeumError(f"emotion_classifier={self.emotion_classifier}: {err}") from err
            if kind != "classifier":
                raise MaeumError(
                    f"emotion_classifier={self.emotion_classifier} is a chatbot: give a maeum classifier "
                    "(a maeum-train checkpoint or maeum-export directory of an emotion classifier)."
                )

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        model = getattr(pl_module, "model", None)
        if (
            not self.enabled
            or trainer.sanity_checking
            or not trainer.is_global_zero
            or not hasattr(datamodule, "sample_prompts")
            or not hasattr(model, "generate")
        ):
            return
        total = len(datamodule.corpus.split("test"))
        if total == 0:  # said in `setup`
            return
        n = min(total, self.max_dialogues or total)
        if trainer.world_size == 1:  # a limited test (limit_test_batches) tests a prefix: answer that prefix
            n = min(n, self._tested)
        prompts = datamodule.sample_prompts(n, split="test")
        dialogues = [p for p, _ in prompts]
        replies = generate_replies(model, datamodule, dialogues, self.preset, self.batch_size, self.seed)
        names = datamodule.corpus.condition_names
        frame = pd.DataFrame(
            {
                "id": datamodule.test_ids()[:n],
                "condition": [names.get(p.condition, p.condition) if p.condition else "" for p, _ in prompts],
                "history": [" / ".join(f"{t.speaker}: {t.text}" for t in p.turns) for p, _ in prompts],
                "reference": [reference for _, reference in prompts],
                "reply": [r.text for r in replies],
                "reply_tokens": [r.tokens for r in replies],
                "stop": [r.stop for r in replies],
            }
        )
        if datamodule.layout.generates_condition:
            generated = [r.condition for r in replies]
            frame.insert(frame.columns.get_loc("reply"), "generated_condition", generated)
        last_user = [p.turns[-1].text if p.turns else "" for p, _ in prompts]
        scored = score_replies(frame["reply"], frame["reference"], last_user, frame["stop"])
        frame = pd.concat([frame, scored.per_reply], axis=1)
        metrics = dict(scored.corpus)
        notes = list(scored.notes)
        summary: dict[str, Any] = {}
        if self._predictor is not None:
            emotion, summary = self._judge_emotion(frame, notes)
            frame = pd.concat([frame, emotion], axis=1)
            metrics.update(summary.pop("metrics"))
        stem = generations_stem(n, total)
        self._write(frame, stem, metrics, summary, notes, total)
        for note in notes:
            log.info("test_generations: %s", note)
        for name, value in metrics.items():
            pl_module.log(reply_metric(name), float(value), rank_zero_only=True)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_table("test/generations", dataframe=frame.head(1000))

    def _judge_emotion(self, frame: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The classifier's label (and its probability) for every reply and reference; the agreement of
        the two, and the match of each with the dialogue's condition where it is one of the labels."""
        predictor = self._predictor
        assert predictor is not None
        labels = set(predictor.labels)
        judged = {}
        for column in ("reply", "reference"):
            texts = [str(t) for t in frame[column]]
            keep = [i for i, t in enumerate(texts) if t.strip()]  # an empty text has no emotion
            found = dict(zip(keep, predictor.predict([texts[i] for i in keep]), strict=True))
            judged[f"{column}_label"] = [found[i]["label"] if i in found else "" for i in range(len(texts))]
            judged[f"{column}_probability"] = [
                round(max(found[i]["probs"].values()), 4) if i in found else float("nan")
                for i in range(len(texts))
            ]
        emotion = pd.DataFrame(judged, index=frame.index)
        reply, reference = emotion["reply_label"], emotion["reference_label"]
        has_reference = reference != ""
        emotion["emotion_agreement"] = (reply == reference).where(has_reference)  # blank: no reference label
        metrics: dict[str, float] = {}
        if has_reference.any():
            metrics["emotion_agreement"] = float((reply == reference)[has_reference].mean())
        else:
            notes.append("no reference reply to classify: emotion_agreement is not computed")
        conditions = frame["condition"].astype(str)
        known = conditions.isin(labels)
        if known.any():
            emotion["condition_match"] = (reply == conditions).where(known)
            metrics["condition_match"] = float((reply == conditions)[known].mean())
            metrics["condition_match_reference"] = float((reference == conditions)[known].mean())
            if lost := int((~known).sum()):
                notes.append(
                    f"condition_match leaves out {lost} dialogue(s) without a condition among the labels"
                )
        else:
            shown = sorted(set(conditions) - {""})[:10]
            notes.append(
                f"condition_match is skipped: the dialogues' conditions {shown or '(none)'} are not among "
                f"the classifier's labels {sorted(labels)}"
            )
        shares = Counter(label for label in reference if label)
        total = sum(shares.values())
        summary = {
            "metrics": metrics,
            "emotion_classifier": self.emotion_classifier,
            "classifier_labels": list(predictor.labels),
            "reference_labels": {k: round(v / total, 4) for k, v in shares.most_common()} if total else {},
        }
        log.info("Reference replies' labels by %s: %s", self.emotion_classifier, summary["reference_labels"])
        return emotion, summary

    def _write(
        self,
        frame: pd.DataFrame,
        stem: str,
        metrics: dict[str, float],
        summary: dict[str, Any],
        notes: Sequence[str],
        total: int,
    ) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{stem}.csv"
        frame.to_csv(path, index=False, encoding="utf-8")
        about = {
            "file": path.name,
            "dialogues": len(frame),
            "test_dialogues": total,
            "preset": self.preset,
            "seed": self.seed,
            "metrics": metrics,
            **summary,
            "notes": list(notes),
        }
        text = json.dumps(about, ensure_ascii=False, indent=2)
        path.with_suffix(".json").write_text(text, encoding="utf-8")
        log.info("Test generations: %s (%d dialogues)", path, len(frame))
