"""Statistics for comparing success rates: Wilson intervals, a one-sided two-proportion test, BH.

Definitions (reliability-math §5.2–§5.3), for x successes out of n:

- Wilson interval of x/n at confidence c (scipy's ``binomtest(x, n).proportion_ci(method=
  "wilson")``, no continuity correction): it stays inside [0, 1] and behaves at 0/n and n/n,
  where the Wald interval p ± z·√(p(1−p)/n) collapses to a point;
- two-proportion test, H₁: current rate p_c < reference rate p_r. With the pooled rate
  p = (x_r + x_c)/(n_r + n_c), SE = √(p(1−p)(1/n_r + 1/n_c)) and z = (p_c − p_r)/SE, the
  p-value is Φ(z), so a drop gives a negative z. When an expected cell of the 2×2 table
  (reference/current × success/failure) is below 5 the normal approximation is poor, and
  Fisher's exact test (one-sided, same direction) is used instead; its z is None. scipy's
  exact test costs time in proportion to the table's total (10 s per slice at 10¹²,
  which any sender could ask for), so above ``FISHER_EXACT_MAX_TOTAL`` the hypergeometric
  tail is taken from its binomial limit along the table's smallest margin m: drawing m
  of M with or without replacement differs by a relative O(m/M), and a small expected
  cell forces m < √(5M), so the p-value is within 0.3% of the exact one;
- Benjamini–Hochberg at level q over m p-values: adjusted p₍ᵢ₎ = min over j ≥ i of m·p₍ⱼ₎/j,
  capped at 1; a hypothesis is rejected when its adjusted p ≤ q, which is the same as
  rejecting the k smallest for the largest k with p₍ₖ₎ ≤ k·q/m. This bounds the expected
  share of false discoveries at q, where a per-test α would page falsely more often as
  slices are added.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import binom, binomtest, false_discovery_control, fisher_exact, norm

from incidents.errors import InvalidInput

MIN_EXPECTED_CELL = 5.0
FISHER_EXACT_MAX_TOTAL = 1_000_000
# The largest count a statistics input may hold: a quadrillion outcomes per period is far
# beyond any real traffic, and a thousand such counts still sum inside numpy's 64-bit
# integers (beyond 2**64 numpy falls back to Python objects and its ufuncs fail).
MAX_COUNT = 10**15
Z_TEST, FISHER = "z", "fisher"


@dataclass(frozen=True, slots=True)
class ProportionTest:
    """The outcome of a one-sided test that the current rate is below the reference rate."""

    p_value: float  # one-sided, H1: current rate < reference rate
    z: float | None  # None when Fisher's exact test was used
    method: str  # "z" or "fisher"


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson interval of successes/total, which stays honest near 0, 1 and small n."""
    check_count(successes, "successes")
    check_count(total, "total")
    if total == 0:
        raise InvalidInput("total: need at least one trial for an interval", fields=["total"])
    check_at_most(successes, total, "successes", "total")
    if not _is_number(confidence) or not 0 < confidence < 1:
        raise InvalidInput("confidence: must be between 0 and 1", fields=["confidence"])
    interval = binomtest(successes, total).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(interval.low), float(interval.high)


def two_proportion_test(
    ref_successes: int, ref_total: int, cur_successes: int, cur_total: int
) -> ProportionTest:
    """Test H₁ current rate < reference rate: pooled z-test, Fisher's exact at small counts."""
    for value, name in (
        (ref_successes, "ref_successes"),
        (ref_total, "ref_total"),
        (cur_successes, "cur_successes"),
        (cur_total, "cur_total"),
    ):
        check_count(value, name)
    for total, name in ((ref_total, "ref_total"), (cur_total, "cur_total")):
        if total == 0:
            raise InvalidInput(f"{name}: need at least one trial to compare", fields=[name])
    check_at_most(ref_successes, ref_total, "ref_successes", "ref_total")
    check_at_most(cur_successes, cur_total, "cur_successes", "cur_total")
    smallest = _smallest_expected_cell(ref_successes, ref_total, cur_successes, cur_total)
    if smallest < MIN_EXPECTED_CELL:
        table = [
            [cur_successes, cur_total - cur_successes],
            [ref_successes, ref_total - ref_successes],
        ]
        if ref_total + cur_total > FISHER_EXACT_MAX_TOTAL:
            p_value = _fisher_less_large(cur_successes, cur_total, ref_successes, ref_total)
        else:  # odds ratio (current odds / reference odds) < 1 is the same one-sided H₁
            p_value = float(fisher_exact(table, alternative="less").pvalue)
        return ProportionTest(p_value=min(p_value, 1.0), z=None, method=FISHER)
    pooled = (ref_successes + cur_successes) / (ref_total + cur_total)
    se = math.sqrt(pooled * (1 - pooled) * (1 / ref_total + 1 / cur_total))
    z = (cur_successes / cur_total - ref_successes / ref_total) / se
    # scipy has no pooled two-proportion z-test (statsmodels, not a dependency, does), so
    # the statistic is computed here; the tail comes from scipy. Φ(z) keeps precision far
    # into the lower tail, where 1 − Φ(−z) would round to 0.
    return ProportionTest(p_value=float(norm.cdf(z)), z=z, method=Z_TEST)


def _fisher_less_large(a: int, n_cur: int, c: int, n_ref: int) -> float:
    """Return P(current successes ≤ a) under fixed margins for a large table, through the
    binomial limit of the hypergeometric along its smallest margin (see the module doc)."""
    total, successes = n_cur + n_ref, a + c
    failures, b = total - successes, n_cur - a
    margins = {"successes": successes, "failures": failures, "current": n_cur, "reference": n_ref}
    smallest = min(margins, key=lambda name: margins[name])
    if smallest == "successes":  # which of the few successes fell in the current row
        return float(binom.cdf(a, successes, n_cur / total))
    if smallest == "failures":  # the current row took at least b of the few failures
        return float(binom.sf(b - 1, failures, n_cur / total))
    if smallest == "current":  # the few current trials, each a success at the pooled rate
        return float(binom.cdf(a, n_cur, successes / total))
    return float(binom.sf(c - 1, n_ref, successes / total))  # reference took ≥ c successes


def benjamini_hochberg(
    p_values: Sequence[float], q: float = 0.05
) -> tuple[list[float], list[bool]]:
    """Return BH-adjusted p-values (input order) and which are rejected at FDR level q."""
    if not _is_number(q) or not 0 < q < 1:
        raise InvalidInput("q: the false discovery rate must be between 0 and 1", fields=["q"])
    for index, p in enumerate(p_values):
        if not _is_number(p) or not 0 <= p <= 1:
            name = f"p_values[{index}]"
            raise InvalidInput(f"{name}: a p-value must be between 0 and 1", fields=[name])
    if not p_values:
        return [], []
    adjusted = [min(float(p), 1.0) for p in false_discovery_control(list(p_values), method="bh")]
    return adjusted, [p <= q for p in adjusted]


def check_count(value: object, name: str) -> None:
    """Refuse anything but a non-negative whole number (bools are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name}: must be a whole number ≥ 0", fields=[name])


def check_at_most(successes: int, total: int, successes_name: str, total_name: str) -> None:
    """Refuse more successes than trials, naming the successes field."""
    if successes > total:
        raise InvalidInput(
            f"{successes_name}: {successes} is more than {total_name} ({total})",
            fields=[successes_name],
        )


def _smallest_expected_cell(
    ref_successes: int, ref_total: int, cur_successes: int, cur_total: int
) -> float:
    """Return the smallest expected count of the 2×2 table under equal rates."""
    total = ref_total + cur_total
    successes = ref_successes + cur_successes
    failures = total - successes
    return min(
        row * column / total for row in (ref_total, cur_total) for column in (successes, failures)
    )


def _is_number(value: object) -> bool:
    """Tell whether a value is a finite real number (and not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
