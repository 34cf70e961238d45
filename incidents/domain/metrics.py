"""MTTx: what each figure means, and the statistics every surface reports (DESIGN §4).

Per incident, in seconds:

- ``time_to_detect`` (MTTD) = detected − impact_started; excluded when the impact start was
  defaulted to detection (it would always be 0 and flatter the figure);
- ``time_to_acknowledge`` (MTTA) = acknowledged − detected;
- ``time_to_mitigate`` (MTTM) = mitigated − impact_started: the customer-impact duration;
- ``time_to_resolve`` (MTTR) = resolved − impact_started.

An incident without the end point of a metric is not averaged in: while it is open it is
right-censored ("not yet acknowledged/mitigated/resolved"), once resolved it is excluded with
its reason ("never acknowledged"). Every exclusion is counted per reason.

Aggregates over the values ``x₍₁₎ ≤ … ≤ x₍ₙ₎`` of a group:

- ``median``: x₍₍ₙ₊₁₎/₂₎ for odd n, the mean of the two middle values for even n;
- ``p90``: nearest rank, x₍⌈0.9·n⌉₎ (numpy's default "linear" method gives other values);
- ``mean``, ``min``, ``max``;
- ``median_ci``: the distribution-free 95% interval (x₍ₖ₎, x₍ₙ₋ₖ₊₁₎) for the largest k with
  1 − 2·BinomCDF(k−1; n, ½) ≥ 0.95, with its exact coverage; null for n < 6;
- below n = 5 the figures carry the note "insufficient data" (shown, not hidden).

MTTD/MTTA/MTTM/MTTR are these medians; the mean is secondary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from functools import lru_cache

from scipy.stats import binom, mannwhitneyu

MIN_N = 5
MIN_N_FOR_CI = 6
CI_LEVEL = 0.95
INSUFFICIENT = "insufficient data"


@dataclass(frozen=True, slots=True)
class Metric:
    """One MTTx metric: its start and end timestamps and what is excluded."""

    name: str
    short: str
    start: str
    end: str
    definition: str


METRICS: tuple[Metric, ...] = (
    Metric("time_to_detect", "MTTD", "impact_started_at", "detected_at",
           "detected − impact started; incidents whose impact start was defaulted are excluded"),
    Metric("time_to_acknowledge", "MTTA", "detected_at", "acknowledged_at",
           "acknowledged − detected"),
    Metric("time_to_mitigate", "MTTM", "impact_started_at", "mitigated_at",
           "mitigated − impact started (how long customers were affected)"),
    Metric("time_to_resolve", "MTTR", "impact_started_at", "resolved_at",
           "resolved − impact started"),
)  # fmt: skip
METRIC_NAMES = tuple(metric.name for metric in METRICS)

DEFINITIONS: dict[str, str] = {
    **{
        metric.name: f"{metric.short}: median of {metric.definition}, in seconds"
        for metric in METRICS
    },
    "n": "incidents with both end points of the metric",
    "excluded": "incidents left out, counted per reason (open ones are right-censored)",
    "open": "incidents not yet resolved (counted, never averaged in)",
    "median": "middle value; mean of the two middle values when n is even",
    "p90": "nearest rank: the ⌈0.9·n⌉-th smallest value",
    "median_ci": "distribution-free 95% interval of the median from order statistics (n ≥ 6)",
    "note": f"'{INSUFFICIENT}' when n < {MIN_N}: figures are shown but not meaningful",
}

# Why an incident has no value for a metric: (impact defaulted?, end missing, resolved?) rules.
DEFAULTED = "impact start defaulted"
NEVER_ACKNOWLEDGED = "never acknowledged"
NOT_YET = {
    "acknowledged_at": "not yet acknowledged",
    "mitigated_at": "not yet mitigated",
    "resolved_at": "not yet resolved",
}
NEVER = {"acknowledged_at": NEVER_ACKNOWLEDGED, "mitigated_at": "never mitigated"}


def exclusion(
    metric: Metric, *, has_end: bool, resolved: bool, impact_defaulted: bool
) -> str | None:
    """Return why an incident has no value for `metric`, or None when it has one."""
    if metric.name == "time_to_detect" and impact_defaulted:
        return DEFAULTED
    if has_end:
        return None
    if resolved and metric.end in NEVER:
        return NEVER[metric.end]
    return NOT_YET.get(metric.end, "missing")


@dataclass(frozen=True, slots=True)
class MedianCI:
    """A confidence interval of the median with its exact coverage."""

    low: float
    high: float
    coverage: float


@dataclass(frozen=True, slots=True)
class Summary:
    """The statistics of one metric over one group."""

    n: int
    excluded: dict[str, int] = field(default_factory=dict)
    median: float | None = None
    p90: float | None = None
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    median_ci: MedianCI | None = None
    note: str | None = None


@lru_cache(maxsize=4096)
def ci_rank(n: int) -> tuple[int, float] | None:
    """Return (k, coverage): the largest k with 1 − 2·BinomCDF(k−1; n, ½) ≥ 0.95; None if n < 6."""
    if n < MIN_N_FOR_CI:
        return None
    k = max(1, int(n / 2 - 1.96 * math.sqrt(n) / 2) - 2)  # start just below the normal estimate
    while _coverage(n, k + 1) >= CI_LEVEL:
        k += 1
    while k > 1 and _coverage(n, k) < CI_LEVEL:
        k -= 1
    return k, _coverage(n, k)


def _coverage(n: int, k: int) -> float:
    """Return the coverage of (x₍ₖ₎, x₍ₙ₋ₖ₊₁₎) for the median."""
    return float(1 - 2 * binom.cdf(k - 1, n, 0.5))


def required_ranks(n: int) -> frozenset[int]:
    """Return the 1-based ranks whose values the statistics need."""
    if n == 0:
        return frozenset()
    ranks = {1, n, (n + 1) // 2, n // 2 + 1, math.ceil(0.9 * n)}
    ci = ci_rank(n)
    if ci is not None:
        ranks |= {ci[0], n - ci[0] + 1}
    return frozenset(ranks)


def summarize_ranks(
    n: int, total: float, value_at: Callable[[int], float], excluded: Mapping[str, int]
) -> Summary:
    """Compute the statistics from n, the sum, and the values at ``required_ranks(n)``."""
    kept = {reason: count for reason, count in excluded.items() if count}
    if n == 0:
        return Summary(n=0, excluded=kept, note=INSUFFICIENT)
    ci = ci_rank(n)
    return Summary(
        n=n,
        excluded=kept,
        median=(value_at((n + 1) // 2) + value_at(n // 2 + 1)) / 2,
        p90=value_at(math.ceil(0.9 * n)),
        mean=total / n,
        min=value_at(1),
        max=value_at(n),
        median_ci=None if ci is None else MedianCI(value_at(ci[0]), value_at(n - ci[0] + 1), ci[1]),
        note=INSUFFICIENT if n < MIN_N else None,
    )


def summarize(values: Sequence[float], excluded: Mapping[str, int] | None = None) -> Summary:
    """Compute the statistics of a list of values (any order)."""
    ordered = sorted(values)
    return summarize_ranks(
        len(ordered), math.fsum(ordered), lambda rank: ordered[rank - 1], excluded or {}
    )


MIN_N_FOR_TREND = 20
ALPHA = 0.05
IMPROVED, WORSE, NO_EVIDENCE = "improved", "worse", "insufficient evidence"


@dataclass(frozen=True, slots=True)
class Trend:
    """Whether a metric got better between two periods, by a one-sided Mann–Whitney U test."""

    direction: str
    p_value: float | None
    n_current: int
    n_previous: int
    reason: str


def compare(current: Sized, previous: Sized) -> Trend:
    """Say "improved"/"worse" only with n ≥ 20 in both periods and p < 0.05 (shorter is better)."""
    n_cur, n_prev = len(current), len(previous)
    if min(n_cur, n_prev) < MIN_N_FOR_TREND:
        reason = f"fewer than {MIN_N_FOR_TREND} incidents in a period ({n_prev} → {n_cur})"
        return Trend(NO_EVIDENCE, None, n_cur, n_prev, reason)
    faster = float(mannwhitneyu(current, previous, alternative="less").pvalue)
    slower = float(mannwhitneyu(current, previous, alternative="greater").pvalue)
    if faster < ALPHA:
        return Trend(IMPROVED, faster, n_cur, n_prev, f"shorter than before, p = {faster:.3g}")
    if slower < ALPHA:
        return Trend(WORSE, slower, n_cur, n_prev, f"longer than before, p = {slower:.3g}")
    p = min(faster, slower)
    return Trend(NO_EVIDENCE, p, n_cur, n_prev, f"no significant change, p = {p:.3g} ≥ {ALPHA}")
