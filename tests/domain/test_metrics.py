"""MTTx statistics against hand-computed values (DESIGN §4)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom

from incidents.domain.metrics import (
    INSUFFICIENT,
    METRICS,
    ci_rank,
    compare,
    exclusion,
    required_ranks,
    summarize,
)


def test_no_values():
    summary = summarize([], {"not yet resolved": 2, "never acknowledged": 0})
    assert summary.n == 0 and summary.median is None and summary.median_ci is None
    assert summary.excluded == {"not yet resolved": 2}, "zero counts are dropped"
    assert summary.note == INSUFFICIENT


def test_one_value():
    summary = summarize([300.0])
    assert (summary.median, summary.p90, summary.mean, summary.min, summary.max) == (300,) * 5
    assert summary.median_ci is None and summary.note == INSUFFICIENT


def test_five_values_odd_n_heavy_tail():
    summary = summarize([100, 3, 1, 4, 2])
    assert summary.median == 3
    assert summary.p90 == 100  # rank ⌈4.5⌉ = 5
    assert summary.mean == 22
    assert (summary.min, summary.max) == (1, 100)
    assert summary.median_ci is None, "null below n = 6"
    assert summary.note is None, "n = 5 is enough for a figure"


def test_four_values_are_insufficient():
    assert summarize([1, 2, 3, 4]).note == INSUFFICIENT


def test_six_values_even_n_and_the_smallest_interval():
    summary = summarize([6, 5, 4, 3, 2, 1])
    assert summary.median == 3.5
    assert summary.p90 == 6  # rank ⌈5.4⌉ = 6
    assert summary.median_ci is not None
    assert (summary.median_ci.low, summary.median_ci.high) == (1, 6)
    assert summary.median_ci.coverage == pytest.approx(1 - 2 / 64)


def test_ten_values():
    summary = summarize(list(range(1, 11)))
    assert summary.median == 5.5
    assert summary.p90 == 9  # rank 9, not numpy's interpolated 9.1
    assert summary.median_ci is not None
    assert (summary.median_ci.low, summary.median_ci.high) == (2, 9)
    assert summary.median_ci.coverage == pytest.approx(1 - 2 * 11 / 1024)


def test_ties():
    summary = summarize([2, 2, 2, 3])
    assert summary.median == 2 and summary.p90 == 3


@pytest.mark.parametrize(("n", "k"), [(6, 1), (10, 2), (20, 6), (50, 18), (100, 40)])
def test_ci_ranks_match_published_tables(n, k):
    found = ci_rank(n)
    assert found is not None and found[0] == k


@given(st.integers(min_value=6, max_value=3000))
def test_ci_rank_is_the_largest_k_with_95_percent_coverage(n):
    found = ci_rank(n)
    assert found is not None
    k, coverage = found
    assert coverage == pytest.approx(1 - 2 * binom.cdf(k - 1, n, 0.5))
    assert coverage >= 0.95
    assert k + 1 > n / 2 or 1 - 2 * binom.cdf(k, n, 0.5) < 0.95


@given(st.lists(st.floats(min_value=0, max_value=1e7), min_size=1, max_size=300))
def test_statistics_agree_with_a_direct_reading_of_the_sorted_list(values):
    ordered = sorted(values)
    n = len(ordered)
    summary = summarize(values)
    middle = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    assert summary.median == pytest.approx(middle)
    assert summary.p90 == ordered[-(-9 * n // 10) - 1]
    assert summary.min == ordered[0] and summary.max == ordered[-1]
    assert required_ranks(n) <= set(range(1, n + 1))


def test_exclusion_reasons():
    detect, ack, mitigate, resolve = METRICS
    assert exclusion(detect, has_end=True, resolved=True, impact_defaulted=True) == (
        "impact start defaulted"
    )
    assert exclusion(ack, has_end=True, resolved=True, impact_defaulted=True) is None
    assert (
        exclusion(ack, has_end=False, resolved=True, impact_defaulted=False) == "never acknowledged"
    )
    assert exclusion(ack, has_end=False, resolved=False, impact_defaulted=False) == (
        "not yet acknowledged"
    )
    assert exclusion(mitigate, has_end=False, resolved=False, impact_defaulted=False) == (
        "not yet mitigated"
    )
    assert exclusion(resolve, has_end=False, resolved=False, impact_defaulted=False) == (
        "not yet resolved"
    )


def test_trend_needs_twenty_incidents_in_each_period():
    trend = compare([1.0] * 19, [100.0] * 40)
    assert trend.direction == "insufficient evidence" and trend.p_value is None
    assert "fewer than 20" in trend.reason


def test_trend_improved_worse_and_no_change():
    rng = random.Random(7)
    before = [rng.lognormvariate(8, 1) for _ in range(60)]
    faster = [value / 4 for value in before]
    assert compare(faster, before).direction == "improved"
    assert compare(before, faster).direction == "worse"
    same = compare(before[:30], before[30:])
    assert same.direction == "insufficient evidence" and same.p_value is not None
    assert same.p_value >= 0.05
