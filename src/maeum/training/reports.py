"""Test-time reports of a classifier: per-class metrics, a confusion matrix figure, every prediction and
the errors.

Label names stay Korean everywhere; figures draw Hangul with `maeum.metrics.plots`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix
from torchmetrics.functional.classification import (
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from maeum.metrics.plots import korean
from maeum.runs.files import CONFUSION_MATRIX, ERRORS, PER_CLASS, TEST_PREDICTIONS, unknown_ids

log = logging.getLogger(__name__)
ANNOTATE_UP_TO = 20  # write counts into the cells of matrices up to this many labels


def per_class(preds: Tensor, target: Tensor, labels: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support for every label name."""
    n = len(labels)
    metrics = {
        "precision": multiclass_precision(preds, target, n, average=None),
        "recall": multiclass_recall(preds, target, n, average=None),
        "f1": multiclass_f1_score(preds, target, n, average=None),
    }
    frame = pd.DataFrame({"label": list(labels), **{k: v.tolist() for k, v in metrics.items()}}).round(4)
    frame["support"] = torch.bincount(target, minlength=n).tolist()
    return frame


def predictions(
    probs: Tensor, target: Tensor, labels: Sequence[str], ids: Sequence[str], texts: Sequence[str] | None
) -> pd.DataFrame:
    """Every test example in loader order: id, text (when known), label, prediction, the probabilities of
    both, and whether it was right (what `maeum.leaderboard` pairs runs on)."""
    confidence, preds = probs.max(dim=-1)
    of_label = probs.gather(1, target[:, None]).squeeze(1)
    return pd.DataFrame(
        {
            "id": list(ids),
            **({"text": list(texts)} if texts is not None else {}),
            "label": [labels[i] for i in target.tolist()],
            "predicted": [labels[i] for i in preds.tolist()],
            "probability": [round(p, 4) for p in confidence.tolist()],
            "probability_of_label": [round(p, 4) for p in of_label.tolist()],
            "correct": (preds == target).tolist(),
        }
    )


def errors(table: pd.DataFrame) -> pd.DataFrame:
    """The misclassified rows of `predictions` (with texts), the most confident mistakes first."""
    wrong = table.loc[
        ~table["correct"], ["text", "label", "predicted", "probability", "probability_of_label"]
    ]
    return wrong.sort_values("probability", ascending=False, kind="stable", ignore_index=True)


def confusion_matrix_figure(preds: Tensor, target: Tensor, labels: Sequence[str]) -> Figure:
    """Confusion matrix (rows: true label, columns: predicted) with the label names on the axes."""
    matrix = MulticlassConfusionMatrix(num_classes=len(labels), sync_on_compute=False)  # already gathered
    matrix.update(preds, target)
    side = min(40.0, max(6.0, 0.45 * len(labels)))
    with korean():
        figure = Figure(figsize=(side, side))
        FigureCanvasAgg(figure)
        ax = figure.add_subplot()
        matrix.plot(ax=ax, labels=list(labels), add_text=len(labels) <= ANNOTATE_UP_TO)
        ax.set_title("confusion matrix (rows: true, columns: predicted)")
        ax.tick_params(axis="x", labelrotation=0 if len(labels) <= 10 else 90)
        ax.tick_params(axis="y", labelrotation=0)
        figure.tight_layout()
    return figure


def write_reports(
    output_dir: Path,
    probs: Tensor,
    target: Tensor,
    labels: Sequence[str],
    texts: Sequence[str] | None,
    ids: Sequence[str] | None = None,
) -> tuple[dict[str, Path], dict[str, pd.DataFrame]]:
    """Write per_class.csv, test_predictions.csv, confusion_matrix.png and (with texts) errors.csv; return
    paths and tables. Without `ids`, a prediction's id is `<position>-?` (unknown example: not paired)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    preds = probs.argmax(dim=-1)
    ids = list(ids) if ids is not None else unknown_ids(len(target))
    tables = {
        "per_class": per_class(preds, target, labels),
        "test_predictions": predictions(probs, target, labels, ids, texts),
    }
    if texts is not None:
        tables["errors"] = errors(tables["test_predictions"])
    files = {"per_class": PER_CLASS, "test_predictions": TEST_PREDICTIONS, "errors": ERRORS}
    paths = {name: output_dir / files[name] for name in tables}
    for name, table in tables.items():
        table.to_csv(paths[name], index=False)
    paths["confusion_matrix"] = output_dir / CONFUSION_MATRIX
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        figure = confusion_matrix_figure(preds, target, labels)
        with korean():
            figure.savefig(paths["confusion_matrix"], dpi=110)
    if missing := sorted({str(w.message) for w in caught if "missing from" in str(w.message)}):
        log.warning(
            "%s: some label characters have no glyph in NanumGothic: %s", paths["confusion_matrix"], missing
        )
    return paths, tables
