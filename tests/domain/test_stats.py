"""Wilson, the one-sided two-proportion test and BH against hand-computed and independent values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact, norm

from incidents.domain.stats import (
    FISHER_EXACT_MAX_TOTAL,
    benjamini_hochberg,
    two_proportion_test,
    wilson_interval,
)
from incidents.errors import InvalidInput

Z95 = 1.959963984540054  # Φ⁻¹(0.975)


def wilson_by_formula(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n), written out independently."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def upper_tail(z: float) -> float:
    """1 − Φ(z) from the error function, without scipy."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def pooled_drop_z(x_r: int, n_r: int, x_c: int, n_c: int) -> float:
    """(p_r − p_c) / √(p(1−p)(1/n_r + 1/n_c)) with the pooled p: positive for a drop."""
    pooled = (x_r + x_c) / (n_r + n_c)
    return (x_r / n_r - x_c / n_c) / math.sqrt(pooled * (1 - pooled) * (1 / n_r + 1 / n_c))


def fisher_less_by_hand(a: int, b: int, c: int, d: int) -> float:
    """P(X ≤ a) for the hypergeometric count in cell [0][0] with the table's margins."""
    row, column, n = a + b, a + c, a + b + c + d
    low = max(0, row + column - n)
    total = math.comb(n, column)
    return (
        sum(math.comb(row, k) * math.comb(n - row, column - k) for k in range(low, a + 1)) / total
    )


# --- Wilson -------------------------------------------------------------------------------


def test_wilson_81_of_263_by_hand():
    # p̂ = 81/263 = 0.307985, z² = 3.841459, 1 + z²/n = 1.014606
    # centre = (0.307985 + 3.841459/526) / 1.014606 = 0.315288 / 1.014606 = 0.310749
    # half = 1.959964/1.014606 · √(0.307985·0.692015/263 + 3.841459/(4·263²))
    #      = 1.931749 · √(0.00081038 + 0.00001388) = 1.931749 · 0.028710 = 0.055461
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.255288, abs=2e-6)
    assert high == pytest.approx(0.366210, abs=2e-6)


def test_wilson_edges_zero_and_all():
    # x = 0: the interval is [0, z²/(n + z²)] = [0, 3.841459/13.841459] = [0, 0.277533]
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.277533, abs=1e-6)
    # x = n mirrors it: [1 − 0.277533, 1]
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.722467, abs=1e-6) and high == 1.0


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_matches_the_formula(counts):
    x, n = counts
    low, high = wilson_interval(x, n)
    expected = wilson_by_formula(x, n)
    assert low == pytest.approx(expected[0], abs=1e-9)
    assert high == pytest.approx(expected[1], abs=1e-9)
    assert 0 <= low <= x / n <= high <= 1


def test_wilson_other_confidence():
    z99 = norm.ppf(0.995)
    assert wilson_interval(40, 100, 0.99) == pytest.approx(wilson_by_formula(40, 100, z99))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((-1, 10), "successes"),
        ((11, 10), "successes"),
        ((0, 0), "total"),
        ((1.5, 10), "successes"),
        ((True, 10), "successes"),
        ((1, 10, 1.0), "confidence"),
        ((1, 10, 0), "confidence"),
    ],
)
def test_wilson_refuses_bad_input(args, field):
    with pytest.raises(InvalidInput) as error:
        wilson_interval(*args)
    assert error.value.fields == [field]


# --- two-proportion test --------------------------------------------------------------------


def test_z_test_by_hand():
    # reference 450/500 = 0.90, current 420/500 = 0.84
    # pooled p = 870/1000 = 0.87; SE = √(0.87 · 0.13 · (1/500 + 1/500)) = √(0.1131 · 0.004)
    #   = √0.0004524 = 0.0212697
    # z = (0.84 − 0.90) / 0.0212697 = −2.82091
    # p = Φ(−2.82091) = 0.002395 (normal table: Φ(−2.82) = 0.0024)
    result = two_proportion_test(450, 500, 420, 500)
    assert result.method == "z"
    assert result.z == pytest.approx(-2.82091, abs=1e-5)
    assert result.p_value == pytest.approx(0.002395, abs=2e-6)


def test_no_drop_is_not_significant():
    result = two_proportion_test(450, 500, 460, 500)  # current is better
    assert result.z is not None and result.z > 0 and result.p_value > 0.5


def test_fisher_when_an_expected_cell_is_below_five():
    # 9 failures in 200 sessions: expected current failures = 100 · 9/200 = 4.5 < 5
    table = [[95, 5], [96, 4]]  # current row first, then reference; success, failure
    result = two_proportion_test(96, 100, 95, 100)
    assert result.method == "fisher" and result.z is None
    assert result.p_value == float(fisher_exact(table, alternative="less").pvalue)
    assert result.p_value == pytest.approx(fisher_less_by_hand(95, 5, 96, 4), rel=1e-12)


def test_expected_cell_of_exactly_five_keeps_the_z_test():
    # 10 failures in 200 sessions: expected failures per row = 100 · 10/200 = 5, not < 5
    assert two_proportion_test(95, 100, 95, 100).method == "z"


def test_fisher_with_a_perfect_reference():
    # reference 5000/5000, current 490/500: expected current failures = 500 · 10/5500 = 0.91
    result = two_proportion_test(5000, 5000, 490, 500)
    assert result.method == "fisher"
    assert result.p_value == float(fisher_exact([[490, 10], [5000, 0]], alternative="less").pvalue)
    # P(all 10 failures land in the current 500 of 5500) = C(500,10)/C(5500,10)
    assert result.p_value == pytest.approx(math.comb(500, 10) / math.comb(5500, 10), rel=1e-9)


@st.composite
def large_sparse_tables(draw):
    """Tables just above the exact-test limit with one small margin (a small expected cell)."""
    n_r = draw(st.integers(500_001, 2_000_000))
    n_c = draw(st.integers(500_000, 2_000_000))
    rare = draw(st.integers(0, 6))  # few: 6 · 0.8 < 5 keeps an expected cell below 5
    in_current = draw(st.integers(0, rare))
    if draw(st.booleans()):  # rare failures
        return n_r - (rare - in_current), n_r, n_c - in_current, n_c
    return rare - in_current, n_r, in_current, n_c  # rare successes


@settings(max_examples=40, deadline=None)
@given(large_sparse_tables())
def test_large_tables_take_the_binomial_limit_within_a_fraction_of_a_percent(table):
    x_r, n_r, x_c, n_c = table
    result = two_proportion_test(x_r, n_r, x_c, n_c)
    assert result.method == "fisher" and n_r + n_c > FISHER_EXACT_MAX_TOTAL
    exact = fisher_exact([[x_c, n_c - x_c], [x_r, n_r - x_r]], alternative="less").pvalue
    assert result.p_value == pytest.approx(float(exact), rel=3e-3, abs=1e-12)


def test_a_huge_table_is_answered_from_the_binomial_limit():
    # 10¹² trials a side, 7 failures of which all 7 in current: C(n_c, 7) / C(2·10¹², 7) ≈ 2⁻⁷
    n = 10**12
    result = two_proportion_test(n, n, n - 7, n)
    assert result.method == "fisher"
    assert result.p_value == pytest.approx(0.5**7, rel=1e-9)


@st.composite
def tables(draw):
    n_r = draw(st.integers(1, 20_000))
    n_c = draw(st.integers(1, 20_000))
    return draw(st.integers(0, n_r)), n_r, draw(st.integers(0, n_c)), n_c


@given(tables())
def test_random_tables_against_the_pooled_formula_and_fisher(table):
    x_r, n_r, x_c, n_c = table
    result = two_proportion_test(x_r, n_r, x_c, n_c)
    failures, total = n_r + n_c - x_r - x_c, n_r + n_c
    expected = [row * col / total for row in (n_r, n_c) for col in (x_r + x_c, failures)]
    if min(expected) < 5:
        assert result.method == "fisher" and result.z is None
        fisher = fisher_exact([[x_c, n_c - x_c], [x_r, n_r - x_r]], alternative="less")
        assert result.p_value == pytest.approx(float(fisher.pvalue), rel=1e-9, abs=1e-15)
    else:
        z_drop = pooled_drop_z(x_r, n_r, x_c, n_c)
        assert result.method == "z"
        # The result's z is (p_c − p_r)/SE, so a drop is negative; its p-value is the upper
        # tail of the drop-oriented statistic: 1 − Φ((p_r − p_c)/SE).
        assert result.z == pytest.approx(-z_drop, rel=1e-9, abs=1e-12)
        assert result.p_value == pytest.approx(upper_tail(z_drop), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((-1, 10, 1, 10), "ref_successes"),
        ((1, 0, 1, 10), "ref_total"),
        ((1, 10, 1, 0), "cur_total"),
        ((1, 10, 11, 10), "cur_successes"),
        ((1, 10, 1, 10.0), "cur_total"),
    ],
)
def test_two_proportion_test_refuses_bad_input(args, field):
    with pytest.raises(InvalidInput) as error:
        two_proportion_test(*args)
    assert error.value.fields == [field]


# --- Benjamini–Hochberg -----------------------------------------------------------------------

# Benjamini & Hochberg (1995), §4: 15 p-values; at q = 0.05 the four smallest are rejected.
BH_1995 = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
    0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0000,
]  # fmt: skip


def test_bh_1995_example_rejects_four():
    adjusted, rejected = benjamini_hochberg(BH_1995, 0.05)
    assert rejected == [True] * 4 + [False] * 11
    # k·q/m = k/300: p₍₄₎ = 0.0095 ≤ 4/300 = 0.01333, p₍₅₎ = 0.0201 > 5/300 = 0.01667, and no
    # later p₍ₖ₎ gets under its k/300 (p₍₉₎ = 0.0459 > 0.03).
    # adjusted: 15·0.0001/1 = 0.0015, 15·0.0004/2 = 0.003, 15·0.0019/3 = 0.0095,
    # 15·0.0095/4 = 0.035625, min(15·0.0201/5 = 0.0603, 0.0695, 0.0639, 0.0645, 0.0765, …) = 0.0603
    assert adjusted[:5] == pytest.approx([0.0015, 0.003, 0.0095, 0.035625, 0.0603])
    assert adjusted[-1] == 1.0


def test_bh_small_list_by_hand_keeps_input_order():
    # sorted 0.005, 0.01, 0.03, 0.04 → m·p/j = 0.02, 0.02, 0.04, 0.04 (already monotone)
    p_values = [0.01, 0.04, 0.03, 0.005]
    adjusted, rejected = benjamini_hochberg(p_values, 0.05)
    assert adjusted == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert rejected == [True, True, True, True]
    assert benjamini_hochberg(p_values, 0.03)[1] == [True, False, False, True]


def test_bh_takes_the_minimum_over_later_ranks():
    # sorted 0.02, 0.021, 0.9: m·p/j = 0.06, 0.0315, 0.9 → the first is lowered to 0.0315
    adjusted, rejected = benjamini_hochberg([0.9, 0.021, 0.02], 0.05)
    assert adjusted == pytest.approx([0.9, 0.0315, 0.0315])
    assert rejected == [False, True, True]


def test_bh_empty_list():
    assert benjamini_hochberg([]) == ([], [])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=60), st.floats(0.001, 0.5))
def test_bh_properties_and_the_step_up_rule(p_values, q):
    adjusted, rejected = benjamini_hochberg(p_values, q)
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    in_rank_order = [adjusted[i] for i in order]
    assert all(a <= b for a, b in zip(in_rank_order, in_rank_order[1:], strict=False))
    assert all(p <= a <= 1 for p, a in zip(p_values, adjusted, strict=True))
    # Step-up rule written out: the largest k with p₍ₖ₎ ≤ k·q/m, reject ranks 1..k.
    k = max(
        (rank for rank in range(1, m + 1) if p_values[order[rank - 1]] <= rank * q / m), default=0
    )
    expected = {order[rank] for rank in range(k)}
    # Ties at the boundary can differ by float rounding between m·p/k ≤ q and p ≤ k·q/m.
    borderline = {i for i in range(m) if math.isclose(adjusted[i], q, rel_tol=1e-9)}
    assert {i for i in range(m) if rejected[i]} ^ expected <= borderline


@pytest.mark.parametrize(
    ("p_values", "q", "field"),
    [([0.1, 1.2], 0.05, "p_values[1]"), ([-0.1], 0.05, "p_values[0]"), ([0.1], 1.0, "q")],
)
def test_bh_refuses_bad_input(p_values, q, field):
    with pytest.raises(InvalidInput) as error:
        benjamini_hochberg(p_values, q)
    assert error.value.fields == [field]
