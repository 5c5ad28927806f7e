"""Which reply a chatbot prefers: `ReplySelection`, a judge-free test metric of every chatbot, beside
`TestGenerations`.

After every chatbot test (`maeum-train`'s test stage, `maeum-eval`) it scores, for each test dialogue, its
reference reply (the final system turn) and `num_distractors` (K) replies of other test dialogues by the
model's mean log-probability per target token (`maeum.models.scoring.mean_logps`), each candidate laid out
after the dialogue's history and condition exactly as in training (`encode_dialogues` under `last_sys`: the
reply and its closing tokens are the targets). ParlAI's hits@1 over 1+K candidates, KoDialogBench's response
selection by likelihood.

The distractors are the split's distinct final replies other than the dialogue's own (ChatbotData repeats
"좋아요"), drawn with one `random.Random(seed)` in dialogue order, so a capped test ranks the first rows of
the uncapped one. It logs `test/select/hits_at_1` (the share of dialogues whose reference scores strictly
highest; chance is 1/(K+1)) and `test/select/mean_rank` (1 is best; a tie counts half), and writes
`test_selection.csv` (one row per test dialogue, under the ids of `test_predictions.csv`) and
`test_selection.json` (K, the seed, the metrics, chance, notes).
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.loggers import WandbLogger
from torch.nn.utils.rnn import pad_sequence

from maeum.data.dialogue.encoding import encode_dialogues
from maeum.data.dialogue.records import IGNORE_INDEX, Dialogue, Turn
from maeum.errors import MaeumError
from maeum.models.scoring import mean_logps
from maeum.runs.files import SELECTION_METRICS, TEST_SELECTION, selection_metric
from maeum.training.callbacks import CountsTestExamples

log = logging.getLogger(__name__)
SCORE = "mean log-probability per target token (the reply and its closing tokens) after the history"


def draw_distractors(references: Sequence[str], pool: Sequence[str], k: int, seed: int) -> list[list[str]]:
    """For each reference, `k` distinct texts of `pool` (the test split's final replies) other than it, in
    the order drawn (fewer where the pool has fewer): uniform over the pool's distinct texts, from one
    `random.Random(seed)` in dialogue order."""
    texts = list(dict.fromkeys(pool))
    rng = random.Random(seed)
    drawn = []
    for reference in references:  # k + 1 drawn, the reference dropped: a uniform k of the others
        picked = rng.sample(texts, min(k + 1, len(texts)))
        drawn.append([text for text in picked if text != reference][:k])
    return drawn


def _padded(rows: Sequence[Mapping[str, list[int]]], tokenizer: Any) -> tuple[torch.Tensor, ...]:
    """(input_ids, attention_mask, labels) of rows padded on the right: ids by the tokenizer, labels -100."""
    padded = tokenizer.pad(
        {"input_ids": [r["input_ids"] for r in rows]}, padding_side="right", return_tensors="pt"
    )
    labels = pad_sequence(
        [torch.tensor(r["labels"]) for r in rows], batch_first=True, padding_value=IGNORE_INDEX
    )
    return padded["input_ids"], padded["attention_mask"], labels


def score_candidates(
    model: Any,
    data: Any,
    prompts: Sequence[Dialogue],
    candidates: Sequence[Sequence[str]],
    *,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    stats: Counter[str] | None = None,
) -> list[list[float]]:
    """Each candidate reply's `mean_logps` after its prompt (the history before the final reply, with its
    condition), laid out as `data` lays dialogues out (its tokenizer, layout and `max_length`), in batches
    of similar length, in eval mode (the model's mode is restored after); `stats` counts the cuts."""
    laid = [
        Dialogue((*prompt.turns, Turn("sys", reply)), prompt.condition)
        for prompt, replies in zip(prompts, candidates, strict=True)
        for reply in replies
    ]
    options = {"max_length": data.max_length, "layout": data.layout, "stats": stats}
    rows = encode_dialogues(laid, data.tokenizer, label_mask="last_sys", **options)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    scores = [math.nan] * len(rows)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                batch = [t.to(device) for t in _padded([rows[i] for i in chunk], data.tokenizer)]
                for i, value in zip(chunk, mean_logps(model, *batch).tolist(), strict=True):
                    scores[i] = value
    finally:
        model.train(was_training)
    per_dialogue, start = [], 0
    for replies in candidates:
        per_dialogue.append(scores[start : start + len(replies)])
        start += len(replies)
    return per_dialogue


def rank_of(reference: float, distractors: Sequence[float]) -> float:
    """The reference's rank among the candidates: 1 + the distractors scoring higher + half the tied ones
    (a NaN score counts as -inf)."""
    ref = -math.inf if math.isnan(reference) else reference
    others = [-math.inf if math.isnan(s) else s for s in distractors]
    return 1 + sum(s > ref for s in others) + 0.5 * sum(s == ref for s in others)


def selection_frame(
    ids: Sequence[str],
    prompts: Sequence[tuple[Dialogue, str]],
    distractors: Sequence[Sequence[str]],
    scores: Sequence[Sequence[float]],
    k: int,
    condition_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per dialogue: `id`, `condition`, `history`, `reference`, `reference_score`, `rank`, `hit`,
    then `distractor_j` and `distractor_j_score` for j in 1..k (empty where fewer were drawn); `scores`
    holds each dialogue's reference score first."""
    names = condition_names or {}
    records = []
    for key, (prompt, reference), drawn, (ref_score, *others) in zip(
        ids, prompts, distractors, scores, strict=True
    ):
        rank = rank_of(ref_score, others)
        record: dict[str, Any] = {
            "id": key,
            "condition": names.get(prompt.condition, prompt.condition) if prompt.condition else "",
            "history": " / ".join(f"{t.speaker}: {t.text}" for t in prompt.turns),
            "reference": reference,
            "reference_score": ref_score,
            "rank": rank,
            "hit": int(rank == 1),
        }
        for j in range(k):
            record[f"distractor_{j + 1}"] = drawn[j] if j < len(drawn) else ""
            record[f"distractor_{j + 1}_score"] = others[j] if j < len(drawn) else math.nan
        records.append(record)
    return pd.DataFrame(records)


def selection_metrics(frame: pd.DataFrame) -> dict[str, float]:
    """`hits_at_1` (the share of rank-1 references) and `mean_rank` of a `selection_frame`."""
    return {"hits_at_1": float(frame["hit"].mean()), "mean_rank": float(frame["rank"].mean())}


class ReplySelection(CountsTestExamples):
    """The reference reply among distractors, by the model's log-probability (see the module docstring).

    Args:
        output_dir: where the files go (the run's directory).
        enabled: `false` ranks nothing.
        num_distractors: K, the distractors per dialogue (hits@1 of 1+K candidates; chance 1/(K+1)).
        seed: the seed of the distractors' draw.
        batch_size: candidates per forward pass (its logits hold batch x length x vocabulary floats).
        max_dialogues: rank the first N test dialogues only (None: all of them).
    """

    def __init__(
        self,
        output_dir: str,
        enabled: bool = True,
        num_distractors: int = 4,
        seed: int = 0,
        batch_size: int = 16,
        max_dialogues: int | None = None,
    ) -> None:
        for key, value in (("num_distractors", num_distractors), ("batch_size", batch_size)):
            if value < 1:
                raise MaeumError(f"callbacks.reply_selection.{key} must be 1 or more, not {value}")
        if max_dialogues is not None and max_dialogues < 1:
            raise MaeumError(
                f"callbacks.reply_selection.max_dialogues must be 1 or more (or null), not {max_dialogues}"
            )
        self.output_dir = Path(output_dir)
        self.enabled = enabled
        self.num_distractors = num_distractors
        self.seed = seed
        self.batch_size = batch_size
        self.max_dialogues = max_dialogues

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        model = getattr(pl_module, "model", None)
        if (
            not self.enabled
            or trainer.sanity_checking
            or not trainer.is_global_zero
            or not all(hasattr(datamodule, n) for n in ("sample_prompts", "test_references", "test_ids"))
            or model is None
        ):
            return
        pool = [reply for _, reply in datamodule.test_references()]
        total = len(pool)
        n = min(total, self.max_dialogues or total)
        if trainer.world_size == 1:  # a limited test (limit_test_batches) tests a prefix: rank that prefix
            n = min(n, self._tested)
        if n == 0:
            return
        distinct = len(set(pool))
        if distinct < 2:
            log.warning(
                "Reply selection is skipped: the %d test dialogue(s) end on %d distinct reply, so there is "
                "no distractor to rank the reference against (test_selection).",
                total,
                distinct,
            )
            return
        k = self.num_distractors
        prompts = datamodule.sample_prompts(n, split="test")
        distractors = draw_distractors([r for _, r in prompts], pool, k, self.seed)
        cuts: Counter[str] = Counter()
        scores = score_candidates(
            model,
            datamodule,
            [p for p, _ in prompts],
            [[reference, *drawn] for (_, reference), drawn in zip(prompts, distractors, strict=True)],
            batch_size=self.batch_size,
            device=pl_module.device,
            stats=cuts,
        )
        names = datamodule.corpus.condition_names
        frame = selection_frame(datamodule.test_ids()[:n], prompts, distractors, scores, k, names)
        metrics = selection_metrics(frame)
        notes = self._notes(distractors, distinct, cuts, datamodule)
        self._write(frame, metrics, notes, total)
        for note in notes:
            log.info("test_selection: %s", note)
        for name, value in metrics.items():
            pl_module.log(selection_metric(name), value, rank_zero_only=True)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_table("test/selection", dataframe=frame.head(1000))

    def _notes(
        self, distractors: Sequence[Sequence[str]], distinct: int, cuts: Counter[str], datamodule: Any
    ) -> list[str]:
        """What a reader of the metrics must know: fewer distractors than K, candidates cut to length, a
        condition the model writes."""
        k, notes = self.num_distractors, []
        if short := sum(len(d) < k for d in distractors):
            chance = sum(1 / (len(d) + 1) for d in distractors) / len(distractors)
            notes.append(
                f"{short} of {len(distractors)} dialogue(s) have fewer than {k} distractors (the test split "
                f"ends on {distinct} distinct replies): chance is {chance:.4f}, not 1/{k + 1}"
            )
        if truncated := cuts.pop("truncated_examples", 0):
            notes.append(
                f"{truncated} of {sum(len(d) + 1 for d in distractors)} candidates were cut to "
                f"data.max_length={datamodule.max_length} as in training: {dict(cuts)}"
            )
        if datamodule.layout.generates_condition:
            notes.append("the scores include the condition the model writes (the same for every candidate)")
        return notes

    def _write(
        self, frame: pd.DataFrame, metrics: Mapping[str, float], notes: Sequence[str], total: int
    ) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / TEST_SELECTION
        frame.to_csv(path, index=False, encoding="utf-8")
        about = {
            "file": path.name,
            "dialogues": len(frame),
            "test_dialogues": total,
            "num_distractors": self.num_distractors,
            "seed": self.seed,
            "score": SCORE,
            "chance": 1 / (self.num_distractors + 1),
            "metrics": {name: metrics[name] for name in SELECTION_METRICS},
            "notes": list(notes),
        }
        text = json.dumps(about, ensure_ascii=False, indent=2)
        path.with_suffix(".json").write_text(text, encoding="utf-8")
        log.info(
            "Test reply selection: %s (%d dialogues, hits@1 %.3f of 1+%d candidates)",
            path,
            len(frame),
            metrics["hits_at_1"],
            self.num_distractors,
        )
