"""What a run writes and the leaderboard reads: file names, checkpoint keys and metric keys, in one place.

A `maeum-train` run directory holds:

    config.yaml                          the resolved config (`RUN_CONFIG`), `.hydra/` Hydra's own copies
    checkpoints/epoch_NNN.ckpt, last.ckpt (`CHECKPOINTS`): the run config rides inside, under `RUN_KEY`
    csv/version_N/metrics.csv            per-epoch metrics (`METRICS_CSV`), or W&B's offline run files
    test_predictions.csv                 every test example, with the id runs pair on (`TEST_PREDICTIONS`)
    per_class.csv, errors.csv, confusion_matrix.png   a classifier's test reports
    test_generations[.first-N].csv/.json a chatbot's replies to its test dialogues, scored
    test_selection.csv/.json             a chatbot's reply selection: each test dialogue's reference among
                                         distractors, by the model's log-probability (`TEST_SELECTION`)
    generation_samples.txt               a chatbot's replies to a few validation prompts, every epoch
    failed.txt                           in a multirun, a run that failed: why (`FAILED`)

`maeum-export` writes `EXPORT_META` (`maeum.json`) beside the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RUN_CONFIG = "config.yaml"
CHECKPOINTS = "checkpoints"
METRICS_CSV = "csv/version_*/metrics.csv"
TEST_PREDICTIONS = "test_predictions.csv"
PER_CLASS = "per_class.csv"
ERRORS = "errors.csv"
CONFUSION_MATRIX = "confusion_matrix.png"
GENERATIONS = "test_generations"  # the stem; `.first-<N>` is added when the test set was capped
GENERATION_SAMPLES = "generation_samples.txt"
FAILED = "failed.txt"  # a multirun's failed run: the reason, for the sweep's launcher to report
TEST_SELECTION = "test_selection.csv"  # `.json` beside it: the number of distractors, the seed, the metrics
EXPORT_META = "maeum.json"

# checkpoint keys (what older checkpoints hold too: never rename them)
RUN_KEY = "maeum"  # {"config": the resolved run config, "version": maeum's}
BEST_KEY = "maeum_val_best"  # the best validation value so far (`val/*_best` across a resume)
FROZEN_KEY = "maeum_frozen_base"  # an adapter checkpoint left out this many frozen base weights

UNKNOWN_ID = "-?"  # the suffix of a test example id whose example is not known: never paired

# the metric keys the leaderboard reads, per kind: the one it ranks by (and its direction), the per-epoch
# curves, the test metrics it shows
RANKED = {"chat": ("val/response_ppl", "min"), "classify": ("val/f1_macro", "max")}
CURVES = {
    "chat": ("train/loss_epoch", "val/loss", "val/response_ppl"),
    "classify": ("train/loss_epoch", "val/loss", "val/acc", "val/f1_macro"),
}
# a chatbot's reply selection, logged as `test/select/<name>` (`maeum.training.reply_selection`)
SELECTION_METRICS = ("hits_at_1", "mean_rank")
SELECTION_PREFIX = "test/select/"
TESTS = {
    "chat": ("test/response_ppl", "test/response_acc", *(SELECTION_PREFIX + m for m in SELECTION_METRICS)),
    "classify": ("test/acc", "test/f1_macro"),
}
# a chatbot's reply metrics, logged as `test/gen/<name>` (`maeum.metrics.text`, and the emotion judge's)
REPLY_METRICS = (
    "chrf", "bleu4", "distinct_1", "distinct_2", "empty_rate", "reply_length", "reply_chars",
    "repeat_rate", "copy_rate", "exact_copy_rate", "top_reply_share", "max_length_rate",
    "emotion_agreement", "condition_match", "condition_match_reference",
)  # fmt: skip
REPLY_PREFIX = "test/gen/"


def read_yaml(path: Path) -> dict[str, Any]:
    """A saved config as plain data, through libyaml's C loader where PyYAML has it: `OmegaConf.load` parses
    in pure Python and wraps every node, about 15 times slower, and a leaderboard reads a config and Hydra's
    `hydra.yaml` per run. maeum's and Hydra's YAML (`OmegaConf.save`) parse the same either way: their floats
    are written with a dot (`1.0e-05`), as YAML 1.1 loaders want them."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=loader) or {}


def reply_metric(name: str) -> str:
    """The logged key of a reply metric: `test/gen/<name>`."""
    return f"{REPLY_PREFIX}{name}"


def selection_metric(name: str) -> str:
    """The logged key of a reply selection metric: `test/select/<name>`."""
    return f"{SELECTION_PREFIX}{name}"


def generations_stem(dialogues: int, test_dialogues: int) -> str:
    """`test_generations`, or `test_generations.first-<N>` when only the first N test dialogues were
    answered (`max_dialogues`, or a limited test)."""
    return f"{GENERATIONS}.first-{dialogues}" if dialogues < test_dialogues else GENERATIONS


def unknown_ids(n: int) -> list[str]:
    """Ids for `n` test examples that are not known (`<position>-?`): the leaderboard never pairs them."""
    return [f"{k}{UNKNOWN_ID}" for k in range(n)]
