"""Slice regression scan: which slices (language, region, …) got worse, and is it worth a page.

Method (reliability-math §5.3, DESIGN §9), per slice with reference counts (x_r, n_r) and
current counts (x_c, n_c) of a good outcome such as a satisfied session:

1. rates p_r = x_r/n_r and p_c = x_c/n_c, drop = p_r − p_c, a Wilson 95% interval of p_c;
2. a slice is tested when n_r > 0 and n_c > 0: one-sided two-proportion z-test of H₁ p_c < p_r
   (Fisher's exact when an expected cell is below 5), see ``incidents.domain.stats``;
3. Benjamini–Hochberg at q across all tested slices, so adding slices does not add false pages;
4. verdict: "insufficient data" when n_c < min_n or the slice is untested (a small slice cannot
   show a drop, and silence must not read as "ok"); "flagged" when BH rejects and the drop is at
   least min_effect (at large n trivial drops are significant); "ok" otherwise;
5. a flagged slice pages (page_severity) when the drop is at least page_effect, otherwise it
   is a ticket (ticket_severity).

Aggregates: the raw rates Σx/Σn of each period, and the mix-adjusted current rate
Σ_s w_ref(s)·p_c(s), with w_ref(s) = n_r(s)/Σn_r over the slices that have current data.
It answers "what would today's rate be with the reference traffic mix": when traffic moves
toward a strong slice, the raw aggregate can stay flat while most slices degrade (Simpson).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from incidents.domain.severity import Severity
from incidents.domain.stats import (
    ProportionTest,
    benjamini_hochberg,
    check_at_most,
    check_count,
    two_proportion_test,
    wilson_interval,
)
from incidents.errors import InvalidInput

FLAGGED, OK, INSUFFICIENT = "flagged", "ok", "insufficient data"
MAX_SLICES = 1000
# Rates are float ratios: 0.30 − 0.28 is 0.01999…, so an exact 2 pp drop would miss a 2 pp
# floor by rounding. Effects are compared with this slack, far below any meaningful effect.
EFFECT_SLACK = 1e-9
SEVERITIES = frozenset(severity.value for severity in Severity)


@dataclass(frozen=True, slots=True)
class SliceCounts:
    """Good outcomes and totals of one slice in the reference and the current period."""

    slice: dict[str, str]  # e.g. {"language": "de"}
    reference_successes: int
    reference_total: int
    current_successes: int
    current_total: int


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Thresholds of the scan; the defaults are reliability-math §5.3's proposals."""

    q: float = 0.05
    min_effect: float = 0.02  # drop in rate (absolute, 2 percentage points)
    min_n: int = 500  # current sessions needed before a slice can be flagged
    page_effect: float = 0.05  # drop at or above which a flagged slice is SEV2, else SEV3
    page_severity: str = "SEV2"
    ticket_severity: str = "SEV3"


@dataclass(frozen=True, slots=True)
class SliceResult:
    """One slice's rates, test, verdict and the sentence that explains it."""

    slice: dict[str, str]
    key: str  # "language=de" (sorted name=value joined by ","), stable
    reference_rate: float | None
    current_rate: float | None
    drop: float | None  # reference_rate - current_rate
    current_interval: tuple[float, float] | None  # Wilson 95% of the current rate
    z: float | None
    p_value: float | None
    adjusted_p_value: float | None  # BH
    method: str | None  # "z" | "fisher" | None when not tested
    verdict: str  # "flagged" | "ok" | "insufficient data"
    severity: str | None  # set only when flagged
    reference_total: int
    current_total: int
    reason: str  # one human sentence, e.g. "drop 8.0 pp (BH p=0.0001), n=1200"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Every slice's result, the flagged ones, and the raw and mix-adjusted aggregates."""

    slices: list[SliceResult]  # input order
    flagged: list[SliceResult]
    reference_rate: float | None  # raw aggregate, reference period
    current_rate: float | None  # raw aggregate, current period
    mix_adjusted_current_rate: float | None  # Σ w_ref(s)·p_cur(s), weights over slices with data
    options: ScanOptions


DEFAULT_OPTIONS = ScanOptions()


def scan(slices: Sequence[SliceCounts], options: ScanOptions = DEFAULT_OPTIONS) -> ScanResult:
    """Test every slice for a drop, control false discoveries with BH, and judge each."""
    check_options(options)
    keys = check_slices(slices)
    tests = {
        index: two_proportion_test(
            counts.reference_successes,
            counts.reference_total,
            counts.current_successes,
            counts.current_total,
        )
        for index, counts in enumerate(slices)
        if counts.reference_total > 0 and counts.current_total > 0
    }
    adjusted, rejected = benjamini_hochberg([test.p_value for test in tests.values()], options.q)
    bh = dict(zip(tests, zip(adjusted, rejected, strict=True), strict=True))
    results = [
        _judge(counts, key, options, tests.get(index), *bh.get(index, (None, False)))
        for index, (counts, key) in enumerate(zip(slices, keys, strict=True))
    ]
    return ScanResult(
        slices=results,
        flagged=[result for result in results if result.verdict == FLAGGED],
        reference_rate=_rate(
            sum(s.reference_successes for s in slices), sum(s.reference_total for s in slices)
        ),
        current_rate=_rate(
            sum(s.current_successes for s in slices), sum(s.current_total for s in slices)
        ),
        mix_adjusted_current_rate=mix_adjusted_rate(slices),
        options=options,
    )


def slice_key(slice_: Mapping[str, str]) -> str:
    """Return the stable key of a slice: sorted name=value pairs joined by commas."""
    return ",".join(f"{name}={slice_[name]}" for name in sorted(slice_))


def mix_adjusted_rate(slices: Sequence[SliceCounts]) -> float | None:
    """Return Σ w_ref·p_cur over slices with current data: today's rates at the reference mix."""
    with_data = [s for s in slices if s.current_total > 0]
    weight_total = sum(s.reference_total for s in with_data)
    if weight_total == 0:
        return None
    return sum(
        s.reference_total / weight_total * (s.current_successes / s.current_total)
        for s in with_data
    )


def _judge(
    counts: SliceCounts,
    key: str,
    options: ScanOptions,
    test: ProportionTest | None,
    adjusted_p: float | None,
    rejected: bool,
) -> SliceResult:
    """Give one slice its verdict, severity and reason."""
    reference_rate = _rate(counts.reference_successes, counts.reference_total)
    current_rate = _rate(counts.current_successes, counts.current_total)
    drop = None if reference_rate is None or current_rate is None else reference_rate - current_rate
    verdict, severity, reason = _verdict(counts, options, drop, adjusted_p, rejected)
    return SliceResult(
        slice=dict(counts.slice),
        key=key,
        reference_rate=reference_rate,
        current_rate=current_rate,
        drop=drop,
        current_interval=(
            wilson_interval(counts.current_successes, counts.current_total)
            if counts.current_total > 0
            else None
        ),
        z=None if test is None else test.z,
        p_value=None if test is None else test.p_value,
        adjusted_p_value=adjusted_p,
        method=None if test is None else test.method,
        verdict=verdict,
        severity=severity,
        reference_total=counts.reference_total,
        current_total=counts.current_total,
        reason=reason,
    )


def _verdict(
    counts: SliceCounts,
    options: ScanOptions,
    drop: float | None,
    adjusted_p: float | None,
    rejected: bool,
) -> tuple[str, str | None, str]:
    """Return (verdict, severity, reason) by the rules in the module docstring."""
    n = counts.current_total
    if counts.reference_total == 0:
        return INSUFFICIENT, None, f"no reference sessions to compare with (n={n})"
    if n < options.min_n:
        have = "no current sessions" if n == 0 else f"only {n} current sessions"
        so_far = "" if drop is None else f" ({_change(drop)} so far)"
        return (
            INSUFFICIENT,
            None,
            f"{have}{so_far}, {options.min_n} needed before it can be flagged",
        )
    assert drop is not None and adjusted_p is not None  # both periods have data here
    rates = f"{counts.reference_successes / counts.reference_total:.1%} → "
    rates += f"{counts.current_successes / n:.1%}, BH {_p(adjusted_p)}"
    if drop <= 0:
        return OK, None, f"{_change(drop)} ({rates}), n={n}"
    if not rejected:
        return OK, None, f"{_change(drop)} not significant ({rates} > q={options.q:g}), n={n}"
    if drop < options.min_effect - EFFECT_SLACK:
        floor = _pp(options.min_effect)
        return OK, None, f"{_change(drop)} ({rates}) is below the {floor} pp floor, n={n}"
    page = _pp(options.page_effect)
    if drop >= options.page_effect - EFFECT_SLACK:
        severity, rule = options.page_severity, f"≥ {page} pp"
    else:
        severity, rule = options.ticket_severity, f"< {page} pp"
    return FLAGGED, severity, f"{_change(drop)} ({rates}), n={n}: {severity} as the drop is {rule}"


def _change(drop: float) -> str:
    """Describe a change of rate in percentage points."""
    if drop > 0:
        return f"drop {_pp(drop)} pp"
    if drop < 0:
        return f"rate up {_pp(-drop)} pp"
    return "rate unchanged"


def _pp(rate: float) -> str:
    """Write a rate difference in percentage points with one decimal."""
    return f"{rate * 100:.1f}"


def _p(p_value: float) -> str:
    """Write a p-value for people: four decimals, or a bound when smaller."""
    return "p<0.0001" if p_value < 0.0001 else f"p={p_value:.4f}"


def _rate(successes: int, total: int) -> float | None:
    """Return successes/total, or None without data."""
    return successes / total if total > 0 else None


def check_options(options: ScanOptions) -> None:
    """Refuse thresholds outside their ranges, naming the option."""
    rules = (
        ("q", options.q, 0.0, 1.0, False, "between 0 and 1 (exclusive)"),
        ("min_effect", options.min_effect, 0.0, 1.0, True, "in [0, 1)"),
        ("page_effect", options.page_effect, 0.0, 1.0, True, "in [0, 1)"),
    )
    for name, value, low, high, low_ok, text in rules:
        if not _is_fraction(value, low, high, low_inclusive=low_ok):
            raise InvalidInput(f"{name}: must be {text}", fields=[name])
    if isinstance(options.min_n, bool) or not isinstance(options.min_n, int) or options.min_n < 1:
        raise InvalidInput("min_n: must be a whole number ≥ 1", fields=["min_n"])
    for name in ("page_severity", "ticket_severity"):
        if getattr(options, name) not in SEVERITIES:
            raise InvalidInput(f"{name}: use one of SEV1, SEV2, SEV3, SEV4", fields=[name])


def check_slices(slices: Sequence[SliceCounts]) -> list[str]:
    """Refuse bad counts, names or duplicates; return each slice's key."""
    if not slices:
        raise InvalidInput("slices: give at least one slice", fields=["slices"])
    if len(slices) > MAX_SLICES:
        raise InvalidInput(
            f"slices: at most {MAX_SLICES} slices per scan (got {len(slices)})", fields=["slices"]
        )
    seen: dict[str, int] = {}
    for index, counts in enumerate(slices):
        where = f"slices[{index}]"
        _check_counts(counts, where)
        key = _check_slice(counts.slice, f"{where}.slice")
        if key in seen:
            raise InvalidInput(
                f"{where}.slice: {key!r} repeats slices[{seen[key]}]", fields=[f"{where}.slice"]
            )
        seen[key] = index
    return list(seen)


def _check_counts(counts: SliceCounts, where: str) -> None:
    """Refuse negative or non-integer counts and more successes than sessions."""
    for period in ("reference", "current"):
        successes, total = f"{period}_successes", f"{period}_total"
        check_count(getattr(counts, successes), f"{where}.{successes}")
        check_count(getattr(counts, total), f"{where}.{total}")
        check_at_most(
            getattr(counts, successes),
            getattr(counts, total),
            f"{where}.{successes}",
            f"{where}.{total}",
        )


def _check_slice(slice_: object, name: str) -> str:
    """Refuse a slice that is not a non-empty mapping of names to strings; return its key."""
    if not isinstance(slice_, Mapping) or not slice_:
        raise InvalidInput(f"{name}: give at least one name: value pair", fields=[name])
    for dimension, value in slice_.items():
        if not isinstance(dimension, str) or not dimension or not isinstance(value, str):
            raise InvalidInput(f"{name}: names and values must be strings", fields=[name])
    return slice_key(slice_)


def _is_fraction(value: object, low: float, high: float, *, low_inclusive: bool) -> bool:
    """Tell whether value is a real number in (low, high) or [low, high)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return False
    return (low <= value if low_inclusive else low < value) and value < high
