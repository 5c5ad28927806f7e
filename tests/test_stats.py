"""maeum.analysis.stats against closed forms on fixed numbers: t intervals, McNemar's exact test, paired
bootstraps."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from maeum.analysis.stats import (
    accuracy_delta,
    mcnemar_exact,
    paired_bootstrap,
    response_nll_delta,
    seed_interval,
)

pytestmark = pytest.mark.unit


def t_quantile_975(df: int) -> float:
    """Student's t 0.975 quantile in closed form: df 1 is Cauchy, df 2 has t = (2p - 1) / sqrt(2p(1 - p))."""
    p = 0.975
    return {1: math.tan(math.pi * (p - 0.5)), 2: (2 * p - 1) / math.sqrt(2 * p * (1 - p))}[df]


@pytest.mark.parametrize("values", [[0.61, 0.69], [110.4, 125.0, 141.2]])
def test_seed_interval_is_the_t_interval_of_the_mean(values: list[float]) -> None:
    interval = seed_interval(values)
    n, mean, std = len(values), statistics.fmean(values), statistics.stdev(values)
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    assert (interval.n, interval.mean, interval.std) == (n, pytest.approx(mean), pytest.approx(std))
    assert (interval.low, interval.high) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert interval.low < interval.mean < interval.high


def test_seed_interval_of_one_seed_has_no_spread_and_a_diverged_seed_is_not_dropped() -> None:
    one = seed_interval([0.5])
    assert one.n == 1 and one.mean == 0.5 and all(math.isnan(v) for v in (one.std, one.low, one.high))
    diverged = seed_interval([40.0, 42.0, math.inf])  # a perplexity that overflowed ranks the row last
    assert diverged.n == 3 and diverged.mean == math.inf and math.isnan(diverged.low)
    assert seed_interval([]).n == 0 and math.isnan(seed_interval([]).mean)


def mcnemar_closed_form(only_a: int, only_b: int) -> float:
    n, k = only_a + only_b, min(only_a, only_b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


@pytest.mark.parametrize(("only_a", "only_b", "both"), [(7, 1, 20), (3, 3, 5), (0, 9, 2), (12, 30, 100)])
def test_mcnemar_exact_is_the_two_sided_binomial_on_the_discordant_pairs(
    only_a: int, only_b: int, both: int
) -> None:
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * 4
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * 4
    assert mcnemar_exact(a, b) == pytest.approx(mcnemar_closed_form(only_a, only_b), rel=1e-9)
    assert mcnemar_exact(a, a) == 1.0  # no discordant pairs


def test_a_constant_difference_has_a_zero_width_interval() -> None:
    paired = accuracy_delta(np.ones(30), np.zeros(30))
    assert (paired.delta, paired.low, paired.high, paired.significant) == (1.0, 1.0, 1.0, True)
    same = accuracy_delta(np.ones(30), np.ones(30))
    assert (same.delta, same.low, same.high, same.significant) == (0.0, 0.0, 0.0, False)


def test_the_accuracy_bootstrap_matches_the_normal_approximation_and_is_seeded() -> None:
    rng = np.random.default_rng(7)
    a = (rng.random(4000) < 0.80).astype(float)
    b = np.where(rng.random(4000) < 0.9, a, 1 - a)  # agrees with `a` on ~90% of the examples
    paired = accuracy_delta(a, b)
    d = a - b
    half = 1.959964 * d.std() / math.sqrt(len(d))  # the bootstrap's sd of a mean is std/sqrt(n)
    assert paired.delta == pytest.approx(d.mean())
    assert paired.low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert paired.high == pytest.approx(d.mean() + half, abs=0.1 * half)
    assert accuracy_delta(a, b) == paired  # seeded: the same interval every time
    assert accuracy_delta(a, b, seed=1) != paired
    assert paired.significant == (paired.low > 0 or paired.high < 0)


def test_the_nll_delta_is_the_log_perplexity_ratio_and_resamples_dialogues_whole() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.integers(3, 40, size=500).astype(float)
    ref_nll = tokens * rng.uniform(2.0, 4.0, size=500)
    nll = ref_nll + tokens * 0.3  # 0.3 nats worse on every token
    paired = response_nll_delta(nll, tokens, ref_nll, tokens)
    ppl, ref_ppl = math.exp(nll.sum() / tokens.sum()), math.exp(ref_nll.sum() / tokens.sum())
    assert paired.delta == pytest.approx(math.log(ppl / ref_ppl)) == pytest.approx(0.3)
    assert paired.low == pytest.approx(0.3) and paired.high == pytest.approx(0.3)  # every resample: 0.3
    tokens = np.repeat(tokens[:250], 2)  # pairs of equal length, one 0.5 nats/token better, one worse
    ref_nll = tokens * 3.0
    noisy = response_nll_delta(ref_nll + tokens * np.tile([0.5, -0.5], 250), tokens, ref_nll, tokens)
    assert noisy.delta == pytest.approx(0.0, abs=1e-12)
    assert noisy.low < 0 < noisy.high and not noisy.significant  # symmetric noise around 0


def test_paired_bootstrap_uses_the_requested_resamples() -> None:
    x, y = np.arange(20.0), np.arange(20.0)[::-1]
    few = paired_bootstrap([x, y], lambda a, b, axis=-1: a.mean(axis) - b.mean(axis), resamples=50)
    many = paired_bootstrap([x, y], lambda a, b, axis=-1: a.mean(axis) - b.mean(axis))
    assert few.delta == many.delta == 0 and few != many
