"""The statistics behind `maeum-leaderboard`: intervals across seeds and paired tests between variants.

- `seed_interval`: mean, sample std and the 95% Student-t interval of the mean of one value per seed.
- `paired_bootstrap`: a statistic's difference between two variants on the same test examples, with a
  seeded percentile bootstrap over examples (`scipy.stats.bootstrap`, `paired=True`: each resample draws
  examples, and both variants' values of an example travel together).
- `response_nll_delta`, `accuracy_delta`: the two statistics the leaderboard pairs runs on.
- `mcnemar_exact`: McNemar's exact test on two classifiers' per-example right/wrong (a two-sided binomial
  test on the discordant pairs, `scipy.stats.binomtest`).

scipy computes all of them; `tests/test_stats.py` checks them against closed forms on fixed numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A mean over `n` values with its sample std and 95% interval (`nan` where `n` is too small)."""

    n: int
    mean: float
    std: float
    low: float
    high: float


def seed_interval(values: Sequence[float]) -> Interval:
    """Mean, sample std (ddof 1) and the 95% t interval of the mean; with one value, no std or interval.
    A non-finite value (a diverged seed) is kept: the mean is then `inf` or `nan`, with no interval."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1 or not np.isfinite(x).all():
        return Interval(n, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1)) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Paired:
    """A paired difference (`variant - reference`) with its bootstrap interval; `significant` when the
    interval excludes 0."""

    delta: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_bootstrap(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Paired:
    """`statistic(*samples, axis=-1)` on the data and its 95% percentile interval from `resamples` paired
    resamples of the examples (every array in `samples` has one value per example, in one order)."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    delta = float(statistic(*arrays, axis=-1))
    if np.ptp(np.stack(arrays), axis=1).max() == 0:  # constant columns: every resample gives `delta`
        return Paired(delta, delta, delta)
    result = stats.bootstrap(
        arrays,
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        batch=1_000,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return Paired(delta, float(low), float(high))


def _nll_delta(
    nll_a: np.ndarray, tokens_a: np.ndarray, nll_b: np.ndarray, tokens_b: np.ndarray, axis: int = -1
) -> np.ndarray:
    return nll_a.sum(axis) / tokens_a.sum(axis) - nll_b.sum(axis) / tokens_b.sum(axis)


def response_nll_delta(
    nll: np.ndarray, tokens: np.ndarray, ref_nll: np.ndarray, ref_tokens: np.ndarray, **kwargs: int
) -> Paired:
    """The difference in mean per-token response NLL (nats) of two chatbots over the same dialogues:
    `sum(nll) / sum(tokens)` of each, so `delta` is `ln(ppl / ref_ppl)`; dialogues are resampled whole."""
    return paired_bootstrap([nll, tokens, ref_nll, ref_tokens], _nll_delta, **kwargs)


def _mean_delta(correct_a: np.ndarray, correct_b: np.ndarray, axis: int = -1) -> np.ndarray:
    return correct_a.mean(axis) - correct_b.mean(axis)


def accuracy_delta(correct: np.ndarray, ref_correct: np.ndarray, **kwargs: int) -> Paired:
    """The accuracy difference of two classifiers over the same examples (`correct` per example: 0/1, or
    the share of seeds that got it right)."""
    return paired_bootstrap([correct, ref_correct], _mean_delta, **kwargs)


def mcnemar_exact(correct: Sequence[bool], ref_correct: Sequence[bool]) -> float:
    """McNemar's exact two-sided p-value: of the examples exactly one classifier gets right, is each side's
    share 1/2? (binomial test on the discordant counts; 1.0 when there are none)."""
    a = np.asarray(correct, dtype=bool)
    b = np.asarray(ref_correct, dtype=bool)
    only_a = int((a & ~b).sum())
    only_b = int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


CORPUS_RESAMPLES = 1_000  # corpus-level metrics re-score every resample (as sacrebleu's paired bootstrap)


def paired_corpus_bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray],
    n: int,
    *,
    resamples: int = CORPUS_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Paired:
    """A corpus-level difference between two variants over the same `n` examples, with a seeded paired
    percentile bootstrap over examples (`scipy.stats.bootstrap` on the examples' indices).

    `statistic(weights)` takes a (resamples, n) array of how often each example is drawn and returns
    each resample's difference, re-scored from per-example statistics (chrF's n-gram counts, a reply's
    n-grams): a corpus metric is recomputed on every resample, never averaged per sentence. The
    difference on the data is `statistic` of all ones."""
    delta = float(statistic(np.ones((1, n)))[0])
    if n < 2:  # one example has no spread to resample
        return Paired(delta, delta, delta)

    def on_indices(indices: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = np.asarray(indices, dtype=int).reshape(-1, n)
        weights = np.zeros(rows.shape)
        np.add.at(weights, (np.repeat(np.arange(len(rows)), n), rows.ravel()), 1.0)
        return statistic(weights)

    result = stats.bootstrap(
        (np.arange(n),),
        on_indices,
        vectorized=True,
        n_resamples=resamples,
        batch=100,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return Paired(delta, float(low), float(high))
