"""Test-time report and validation-sample callbacks: what a run writes beside its checkpoints."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import WandbLogger

from maeum.inference.generation import generate_replies
from maeum.runs.files import GENERATION_SAMPLES, TEST_PREDICTIONS, unknown_ids
from maeum.training.reports import write_reports

log = logging.getLogger(__name__)


class CountsTestExamples(Callback):
    """Counts the test examples this process has seen (`_tested`): a limited test (`limit_test_batches`,
    `fast_dev_run`) tests a prefix of the unshuffled test loader, and the test-time reports that answer or
    rank test dialogues (`TestGenerations`, `ReplySelection`) then cover that prefix."""

    _tested = 0

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._tested = 0

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if isinstance(batch, Mapping) and batch:
            self._tested += len(next(iter(batch.values())))


class PerExampleReport(Callback):
    """Collects the per-example tensors that `test_step` returns under `KEYS` and hands them, over the
    whole test set in loader order, to `report` on rank 0 (modules that return no `KEYS[0]` are skipped).
    Under DDP every rank gathers first. The test loader is not shuffled, so the i-th row belongs to the
    i-th test example of the DataModule."""

    KEYS: tuple[str, ...] = ()

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self._rows: list[list[torch.Tensor]] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rows = []

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if isinstance(outputs, dict) and self.KEYS[0] in outputs:
            tensors = [outputs[key].detach().cpu() for key in self.KEYS]
            self._rows.append([t.float() if t.is_floating_point() else t for t in tensors])

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self._rows or trainer.sanity_checking:
            return
        tensors = tuple(torch.cat(column) for column in zip(*self._rows, strict=True))
        if trainer.world_size > 1:  # every rank gathers; rank 0 then reports on the whole test set
            tensors = _gather_in_dataset_order(pl_module, tensors, len(trainer.datamodule.datasets["test"]))
        if trainer.is_global_zero:
            self.report(trainer, pl_module, *tensors)

    def report(self, trainer: Trainer, pl_module: LightningModule, *tensors: torch.Tensor) -> None:
        raise NotImplementedError


class ClassificationReport(PerExampleReport):
    """After testing a classifier: `per_class.csv`, `test_predictions.csv` (every test example, with the id
    `maeum.leaderboard` pairs runs on), `confusion_matrix.png` and `errors.csv` in `output_dir`.

    The same go to W&B (an image and the Tables `test/per_class`, `test/test_predictions`, `test/errors`)
    when a W&B logger is attached. It collects what `test_step` returns (`probs`, `target`).
    """

    KEYS = ("probs", "target")

    def report(self, trainer: Trainer, pl_module: LightningModule, *tensors: torch.Tensor) -> None:
        probs, target = tensors
        labels = list(pl_module.labels)
        texts = _test_texts(trainer, len(target))
        ids = _test_ids(trainer, len(target))
        paths, tables = write_reports(self.output_dir, probs, target, labels, texts, ids)
        log.info("Test reports: %s", ", ".join(str(p) for p in paths.values()))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("test/confusion_matrix", [str(paths["confusion_matrix"])])
                for name, table in tables.items():
                    logger.log_table(f"test/{name}", dataframe=table.head(1000))


class ResponseReport(PerExampleReport):
    """After testing a chatbot: `test_predictions.csv` in `output_dir`, one row per test dialogue in loader
    order: `id` (what `maeum.leaderboard` pairs runs on), `condition`, `reference` (the final reply),
    `response_tokens` (the reply's tokens and its `</s>`) and `response_nll` (their summed NLL, nats).

    It collects what `ChatLM.test_step` returns. On one process, `exp(sum nll / sum tokens)` over the file
    is `test/response_ppl` (under DDP the metric also counts the few dialogues `DistributedSampler` repeats
    to even the ranks' shares; the file does not).
    """

    KEYS = ("response_nll", "response_tokens")

    def report(self, trainer: Trainer, pl_module: LightningModule, *tensors: torch.Tensor) -> None:
        nll, tokens = tensors
        references = trainer.datamodule.test_references()[: len(nll)]  # a chat run's DialogueDataModule
        if len(references) != len(nll):
            references = [("", "")] * len(nll)
        frame = pd.DataFrame(
            {
                "id": _test_ids(trainer, len(nll)),
                "condition": [c for c, _ in references],
                "reference": [r for _, r in references],
                "response_tokens": tokens.tolist(),
                "response_nll": nll.tolist(),
            }
        )
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / TEST_PREDICTIONS
        frame.to_csv(path, index=False)
        log.info("Test predictions: %s", path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_table("test/test_predictions", dataframe=frame.head(1000))


class GenerationSamples(Callback):
    """At every validation epoch, replies to a fixed set of validation prompts, for reading along.

    They are appended to `generation_samples.txt` in `output_dir` and logged as the W&B Table
    `val/samples`. Runs on rank 0 only, with the generation settings of the run
    (`generation=greedy|sampling`). Chat runs get it (`maeum.runs.kinds`).
    """

    FILENAME = GENERATION_SAMPLES

    def __init__(self, output_dir: str, num_prompts: int = 8, settings: dict[str, Any] | None = None) -> None:
        self.output_dir = Path(output_dir)
        self.num_prompts = num_prompts
        self.settings = settings

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self.num_prompts <= 0:
            return
        datamodule, model = trainer.datamodule, pl_module.model  # a chat run's (maeum.runs.kinds)
        samples = datamodule.sample_prompts(self.num_prompts)
        replies = generate_replies(model, datamodule, [prompt for prompt, _ in samples], self.settings)
        rows = [
            [
                trainer.current_epoch,
                trainer.global_step,
                prompt.condition or "",
                _history(prompt),
                reference,
                reply.text,
                reply.condition or "",
            ]
            for (prompt, reference), reply in zip(samples, replies, strict=True)
        ]
        self._write(trainer, rows)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_table("val/samples", columns=list(SAMPLE_COLUMNS), data=rows)

    def _write(self, trainer: Trainer, rows: list[list[Any]]) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / self.FILENAME
        _drop_sections_from(path, trainer.global_step)
        with path.open("a", encoding="utf-8") as f:
            f.write(f"=== epoch {trainer.current_epoch} (step {trainer.global_step}) ===\n")
            for _, _, condition, history, reference, reply, generated in rows:
                f.write(f"{f'[{condition}] ' if condition else ''}{history}\n")
                f.write(f"  reference: {reference}\n")
                f.write(f"  reply:     {f'[{generated}] ' if generated else ''}{reply}\n")


def _drop_sections_from(path: Path, step: int) -> None:
    """Cut `generation_samples.txt` before its first section at or after `step`: a run resumed before a
    validation that its killed process had already run writes that section again, not twice."""
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    starts = [m for m in SECTION.finditer(text) if int(m.group(1)) >= step]
    if starts:
        path.write_text(text[: starts[0].start()], encoding="utf-8")


SECTION = re.compile(r"^=== epoch \d+ \(step (\d+)\) ===$", re.MULTILINE)
SAMPLE_COLUMNS = ("epoch", "step", "condition", "prompt", "reference", "reply", "generated_condition")


def _history(dialogue: Any) -> str:
    return " / ".join(f"{turn.speaker}: {turn.text}" for turn in dialogue.turns)


def _gather_in_dataset_order(
    pl_module: LightningModule, tensors: tuple[torch.Tensor, ...], size: int
) -> tuple[torch.Tensor, ...]:
    """All ranks' rows in the dataset's order: an unshuffled DistributedSampler deals row i to rank
    i % world_size and pads the end with repeats, so interleave the ranks and cut the padding."""
    gathered = [pl_module.all_gather(t.to(pl_module.device)).cpu() for t in tensors]
    return tuple(g.transpose(0, 1).reshape(-1, *g.shape[2:])[:size] for g in gathered)


def _test_texts(trainer: Trainer, n: int) -> list[str] | None:
    """The test split's texts in loader order (a classify run's corpus), when the count matches."""
    corpus = trainer.datamodule.corpus
    texts = [corpus.examples[i].text for i in corpus.indices["test"]]
    return texts if len(texts) == n else None


def _test_ids(trainer: Trainer, n: int) -> list[str]:
    """The first `n` test examples' ids in loader order (`SplitDataModule.test_ids`; the test loader is not
    shuffled, so `limit_test_batches` tests a prefix). Where they are fewer, `<position>-?`:
    `maeum.leaderboard` refuses to pair on those."""
    ids = trainer.datamodule.test_ids()
    return ids[:n] if len(ids) >= n else unknown_ids(n)
