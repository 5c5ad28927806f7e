"""What a leaderboard ranks, pairs and shows for each kind of run (`maeum.runs.kinds`): `CHATBOT` for chat
runs and `CLASSIFIER` for classify runs; the metric keys are `maeum.runs.files`'.

Everything that differs between the two kinds is a field of `Task`; the rest of the package reads, pairs
and renders the rows of either kind the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from maeum.analysis.stats import Paired, accuracy_delta, response_nll_delta
from maeum.runs.files import CURVES, RANKED, REPLY_METRICS, TESTS, reply_metric


@dataclass(frozen=True)
class Task:
    """What a leaderboard ranks for one kind of run, and how it pairs and shows its rows."""

    name: str
    kind: str  # the run kind it ranks (`maeum.runs.kinds`)
    masked: bool  # its runs train under a `data.label_mask` (a column of the leaderboard)
    metric: str  # the comparable metric, per epoch
    mode: str  # "min" or "max"
    log_scale: bool  # the figure's y axis
    trajectories: tuple[str, ...]  # per-epoch columns, in order
    tests: tuple[str, ...]  # test metrics shown when logged
    generated: tuple[str, ...]  # test-time reply metrics (`test/gen/<name>`), in their own table
    # (`test_predictions.csv` column, its name in `read_predictions`): the paired test's arguments in order
    paired_columns: tuple[tuple[str, str], ...]
    parse: Callable[[pd.Series], pd.Series]  # a paired column as floats, nan where a value is invalid
    shared: tuple[str, ...]  # paired columns a row's seeds and its reference must hold equal
    shared_note: str  # why a row is not paired when its seeds differ in them
    paired_test: Callable[..., Paired]  # (*values, *reference values), each in `paired_columns` order
    mcnemar: str | None  # the pooled 0/1 value McNemar's exact test also reads (the `mcnemar_p` column)
    paired_delta: str  # the csv column of the paired difference with the best row
    paired_label: str  # the markdown header of the paired column
    what: str  # what the paired column holds, for the notes
    note: str
    selection: bool = False  # its runs rank replies (`test_selection.csv`): McNemar's test on their hits


def _numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column, errors="coerce")


def _truths(column: pd.Series) -> pd.Series:
    return column.astype(str).str.lower().map({"true": 1.0, "false": 0.0})


GENERATED = tuple(reply_metric(name) for name in REPLY_METRICS)
CHATBOT = Task(
    name="chatbot",
    kind="chat",
    masked=True,
    metric=RANKED["chat"][0],
    mode=RANKED["chat"][1],
    log_scale=True,
    trajectories=CURVES["chat"],
    tests=TESTS["chat"],
    generated=GENERATED,
    paired_columns=(("response_nll", "nll"), ("response_tokens", "tokens")),
    parse=_numbers,
    shared=("response_tokens",),  # per-token NLLs compare only under one tokenization
    shared_note="its seeds tokenized the test dialogues differently",
    paired_test=response_nll_delta,
    mcnemar=None,
    paired_delta="paired_delta_nll",
    paired_label="Δ NLL/token vs best [95%]",
    what=(
        "the difference in mean per-token response NLL on the test dialogues (nats, row minus best: "
        "positive is worse; exp of it is the test perplexity ratio)"
    ),
    note=(
        "Ranked by the best val/response_ppl: perplexity over the final reply and its </s>, computed the "
        "same way under every label mask. val/loss is taken over each mask's own target tokens, so it "
        "only compares runs of one mask; a preference run's train/loss is its DPO loss (data "
        "`preference/...`, with where its rejected replies come from). test/select/hits_at_1 is reply "
        "selection: the share of test dialogues whose reference reply the model scores above K replies of"
        " other test dialogues (chance 1/(K+1); test/select/mean_rank, 1 is best); select_mcnemar_p is "
        "McNemar's exact test on each dialogue's hit (majority vote over seeds, ties left out) against "
        "the best row that ranked the same candidates, dialogues paired by id."
    ),
    selection=True,
)
CLASSIFIER = Task(
    name="classifier",
    kind="classify",
    masked=False,
    metric=RANKED["classify"][0],
    mode=RANKED["classify"][1],
    log_scale=False,
    trajectories=CURVES["classify"],
    tests=TESTS["classify"],
    generated=(),
    paired_columns=(("correct", "correct"),),
    parse=_truths,
    shared=(),
    shared_note="",
    paired_test=accuracy_delta,
    mcnemar="correct",
    paired_delta="paired_delta_acc",
    paired_label="Δ acc vs best [95%]",
    what=(
        "the test accuracy difference (row minus best), plus McNemar's exact p on each example's "
        "majority vote over seeds"
    ),
    note="Ranked by the best val/f1_macro (macro-F1 on the validation split).",
)
TASKS = (CHATBOT, CLASSIFIER)  # in the leaderboard's order
