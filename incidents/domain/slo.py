"""SLOs: SLI, error budget, burn rates and multiwindow multi-burn-rate alerts (reliability-math §1).

Request-based ("Occurrences") definitions for an objective S in (0, 1) over a period P, with
good, bad = total − good and total events counted in a window:

- SLI = good/total; error ratio e = bad/total; with total = 0 there is no data (None, never 0);
- error budget B = 1 − S, in events B·N_P for the N_P events of the period (F2);
- burn rate r = e/(1 − S): r = 1 spends exactly the whole budget by the end of the period (F3);
- the burn that spends fraction f of the budget within window w is f·P/w (F4): 14.4 for 2% in
  1h of 30d, 13.44 for 28d. Thresholds are derived from the period, never hard-coded;
- budget consumed = Σbad/(B·N_P) (F5, may exceed 1), remaining = 1 − consumed (F6, may be
  negative: it is reported, not clipped), and a state from configurable tiers (§1.3);
- time to exhaustion = remaining bad events / current bad events per hour (F7);
- detection time of a burn alert = ((1 − S)/e)·w·r* (F9), never when e ≤ r*·(1 − S);
- an alert rule fires only when the long window **and** its short window (1/12 as long) both
  burn strictly faster than the threshold and both saw at least ``min_events`` events (F8);
  at 10 requests an hour one failure is a 100× burn, so thin windows must not page.

Alert windows and severities (Sloth's google-30d/28d catalog; the severity follows the
toolkit's paging default, where SEV2 and worse page and SEV3 files a ticket):

====================  =========  ======  =======  ========
budget spent           long       short   30d thr  severity
====================  =========  ======  =======  ========
2% (page, fast)        1h         5m      14.4     SEV1
5% (page, slow)        6h         30m     6        SEV2
10% (ticket, fast)     1d         2h      3        SEV3
10% (ticket, slow)     3d         6h      1        SEV3
====================  =========  ======  =======  ========

Arithmetic is exact (``fractions.Fraction`` on the decimal the caller wrote), so 1 − 0.999 is
0.001 and a burn equal to its threshold on paper is equal in the program: the strict ``>`` of
the rules and the tier bounds do not depend on binary rounding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import TypedDict, TypeGuard

from incidents.domain.stats import check_at_most, check_count
from incidents.errors import InvalidInput

HEALTHY, CAUTION, SLOW, CRITICAL, EXHAUSTED, NO_DATA = (
    "healthy",
    "caution",
    "slow",
    "critical",
    "exhausted",
    "no data",
)
FIRING, TOO_FEW, RECOVERING, OK = "firing", "too few events", "recovering", "ok"
POSTMORTEM_REQUIRED_FRACTION = 0.20  # one incident spending > 20% of the budget (§1.3)
DEFAULT_MIN_EVENTS = 100
SHORT_WINDOW_DIVISOR = 12
# (severity, budget fraction, long window) of the classic catalog, fastest first.
CATALOG: tuple[tuple[str, str, timedelta], ...] = (
    ("SEV1", "0.02", timedelta(hours=1)),
    ("SEV2", "0.05", timedelta(hours=6)),
    ("SEV3", "0.10", timedelta(days=1)),
    ("SEV3", "0.10", timedelta(days=3)),
)
BURN_RATE_WINDOWS = (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=3))
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Counts:
    """Good and total events of one window; refuses negatives and more good than total."""

    good: int
    total: int

    def __post_init__(self) -> None:
        check_count(self.good, "good")
        check_count(self.total, "total")
        check_at_most(self.good, self.total, "good", "total")

    @property
    def bad(self) -> int:
        """Return the events that missed the objective."""
        return self.total - self.good


@dataclass(frozen=True, slots=True)
class AlertWindow:
    """One multiwindow rule whose threshold is derived from the SLO period (f·P/w)."""

    severity: str  # SEV1/SEV2 page, SEV3 is a ticket
    long: timedelta
    short: timedelta  # long / 12
    budget_fraction: float  # share of the period's budget spent when the rule fires
    threshold: float  # burn rate both windows must exceed (strictly)


@dataclass(frozen=True, slots=True)
class Tiers:
    """Remaining-budget bounds: a state starts once the remaining fraction is at or below it."""

    caution: float = 0.50
    slow: float = 0.25
    critical: float = 0.10
    # exhausted at ≤ 0 is fixed: that is where the Workbook policy freezes releases


DEFAULT_TIERS = Tiers()


@dataclass(frozen=True, slots=True)
class Budget:
    """The error budget of one SLO period, how much of it is spent and the resulting state."""

    objective: float
    period: timedelta
    total_events: int
    bad_events: int
    allowed_bad: float  # (1 − S)·N_P
    consumed: float | None  # bad/allowed, may exceed 1; None without events
    remaining: float | None  # 1 − consumed, may be negative; None without events
    state: str  # healthy / caution / slow / critical / exhausted / no data


class AlertRule(TypedDict):
    """One rule's evaluation, with everything needed to explain it."""

    severity: str
    long: str  # "1h"
    short: str  # "5m"
    budget_fraction: float
    threshold: float
    long_burn: float | None
    short_burn: float | None
    long_events: int
    short_events: int
    enough_events: bool
    firing: bool
    status: str  # firing / too few events / recovering / no data / ok


@dataclass(frozen=True, slots=True)
class AlertState:
    """The multiwindow alert verdict: the most severe firing rule, or why nothing fires."""

    firing: bool
    severity: str | None  # of the most severe firing rule
    window: AlertWindow | None  # that rule
    long_burn: float | None
    short_burn: float | None
    reason: str  # one sentence with the numbers
    rules: list[AlertRule]  # every rule of the catalog, fastest first


def sli_ratio(c: Counts) -> float | None:
    """Return good/total, or None without events (no data is not 0% and not 100%)."""
    return c.good / c.total if c.total > 0 else None


def burn_rate(c: Counts, objective: float) -> float | None:
    """Return (bad/total)/(1 − S): how many times faster than sustainable the budget burns."""
    budget_ratio = _budget_ratio(objective)
    exact = _exact_burn(c, budget_ratio)
    return None if exact is None else float(exact)


def burn_threshold(fraction: float, period: timedelta, window: timedelta) -> float:
    """Return f·P/w, the burn that spends fraction f of the period's budget within window w."""
    return float(_exact_threshold(_fraction(fraction, "fraction"), period, window))


def alert_windows(period: timedelta) -> list[AlertWindow]:
    """Return the classic four rules with thresholds derived from the period, fastest first.

    A rule whose long window is longer than the period is left out: it would count events
    from outside the period the budget is defined over.
    """
    _check_duration(period, "period")
    return [
        AlertWindow(
            severity=severity,
            long=long,
            short=long / SHORT_WINDOW_DIVISOR,
            budget_fraction=float(fraction),
            threshold=float(_exact_threshold(Fraction(fraction), period, long)),
        )
        for severity, fraction, long in CATALOG
        if long <= period
    ]


def budget(
    objective: float, period: timedelta, window_counts: Counts, tiers: Tiers = DEFAULT_TIERS
) -> Budget:
    """Return the budget of the trailing period: allowed bad events, consumed, remaining, state."""
    budget_ratio = _budget_ratio(objective)
    _check_duration(period, "period")
    check_tiers(tiers)
    allowed = budget_ratio * window_counts.total
    if window_counts.total == 0:
        consumed = remaining = None
        state = NO_DATA
    else:
        exact_consumed = Fraction(window_counts.bad) / allowed
        consumed, remaining = float(exact_consumed), float(1 - exact_consumed)
        state = budget_state(1 - exact_consumed, tiers)
    return Budget(
        objective=objective,
        period=period,
        total_events=window_counts.total,
        bad_events=window_counts.bad,
        allowed_bad=float(allowed),
        consumed=consumed,
        remaining=remaining,
        state=state,
    )


def budget_state(remaining: float | Fraction, tiers: Tiers = DEFAULT_TIERS) -> str:
    """Name the tier of a remaining fraction: each state starts at or below its bound."""
    if remaining <= 0:
        return EXHAUSTED
    for bound, state in ((tiers.critical, CRITICAL), (tiers.slow, SLOW), (tiers.caution, CAUTION)):
        if remaining <= Fraction(repr(bound)):
            return state
    return HEALTHY


def time_to_exhaustion(b: Budget, recent: Counts, recent_window: timedelta) -> timedelta | None:
    """Return when the budget runs out at the recent bad-event rate; None means never.

    Remaining bad events / recent bad events per hour. timedelta(0) when the budget is already
    spent; None when the recent window had no bad events, when the period had no events (no
    budget to spend, see ``b.state``), or when the answer would not fit in a timedelta.
    """
    _check_duration(recent_window, "recent_window")
    if b.total_events == 0:
        return None
    remaining = _budget_ratio(b.objective) * b.total_events - b.bad_events
    if remaining <= 0:
        return timedelta(0)
    if recent.bad == 0:
        return None
    seconds = remaining / recent.bad * _microseconds(recent_window) / 1_000_000
    if seconds >= timedelta.max.total_seconds():
        return None
    return timedelta(seconds=float(seconds))


def detection_time(
    objective: float, error_ratio: float, window: timedelta, threshold: float
) -> timedelta | None:
    """Return how long a sudden error ratio takes to trip a burn rule; None if it never does.

    ((1 − S)/e)·w·r*: the w-long average reaches r*·(1 − S) after that share of the window.
    """
    budget_ratio = _budget_ratio(objective)
    e = _fraction(error_ratio, "error_ratio", allow_zero=True)
    _check_duration(window, "window")
    if not _is_number(threshold) or threshold <= 0:
        raise InvalidInput("threshold: must be a number > 0", fields=["threshold"])
    r = Fraction(repr(float(threshold)))
    if e <= r * budget_ratio:
        return None
    return timedelta(microseconds=round(budget_ratio / e * _microseconds(window) * r))


def evaluate_alerts(
    objective: float,
    period: timedelta,
    counts_by_window: Mapping[timedelta, Counts],
    *,
    min_events: int = DEFAULT_MIN_EVENTS,
) -> AlertState:
    """Evaluate every multiwindow rule; the most severe firing rule decides the state.

    A window missing from ``counts_by_window`` counts as no data. A rule fires only when both
    of its windows burn strictly faster than its threshold and both have ≥ min_events events.
    """
    budget_ratio = _budget_ratio(objective)
    _check_windows(counts_by_window)
    check_count(min_events, "min_events")
    windows = alert_windows(period)
    rules = [
        _rule(w, _exact_window_threshold(w, period), counts_by_window, budget_ratio, min_events)
        for w in windows
    ]
    firing = [(w, r) for w, r in zip(windows, rules, strict=True) if r["firing"]]
    if firing:
        window, rule = min(firing, key=lambda pair: _severity_rank(pair[0].severity))
        return AlertState(
            firing=True,
            severity=window.severity,
            window=window,
            long_burn=rule["long_burn"],
            short_burn=rule["short_burn"],
            reason=_firing_reason(window, rule, period),
            rules=rules,
        )
    return AlertState(
        firing=False,
        severity=None,
        window=None,
        long_burn=None,
        short_burn=None,
        reason=_quiet_reason(rules, min_events),
        rules=rules,
    )


def budget_consumed_by(bad_during_incident: int, b: Budget) -> float | None:
    """Return the share of the period's allowed bad events one incident spent (None: no events)."""
    check_count(bad_during_incident, "bad_during_incident")
    if b.total_events == 0:
        return None
    return float(bad_during_incident / (_budget_ratio(b.objective) * b.total_events))


def postmortem_required(consumed: float | None) -> bool:
    """Tell whether an incident spent more than 20% of the budget (Workbook outage policy)."""
    return consumed is not None and consumed > POSTMORTEM_REQUIRED_FRACTION


def burn_rates(
    objective: float, counts_by_window: Mapping[timedelta, Counts]
) -> dict[str, float | None]:
    """Return the burn rate over 1h, 6h, 24h and 3d (None for a missing or empty window)."""
    budget_ratio = _budget_ratio(objective)
    _check_windows(counts_by_window)
    rates: dict[str, float | None] = {}
    for window in BURN_RATE_WINDOWS:
        counts = counts_by_window.get(window)
        exact = None if counts is None else _exact_burn(counts, budget_ratio)
        rates[window_label(window)] = None if exact is None else float(exact)
    return rates


def window_label(window: timedelta) -> str:
    """Write a window as people do: 5m, 1h, 24h, 3d (whole days from two days up)."""
    seconds = int(window.total_seconds())
    if window != timedelta(seconds=seconds):
        return f"{window.total_seconds():g}s"
    if seconds % 86_400 == 0 and seconds >= 2 * 86_400:
        return f"{seconds // 86_400}d"
    if seconds % 3_600 == 0:
        return f"{seconds // 3_600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def check_tiers(tiers: Tiers) -> None:
    """Refuse tier bounds that are not strictly decreasing fractions in (0, 1)."""
    previous, previous_name = 1.0, "1"
    for name in ("caution", "slow", "critical"):
        value = getattr(tiers, name)
        if not _is_number(value) or not 0 < value < previous:
            raise InvalidInput(
                f"{name}: must be between 0 and {previous_name} (exclusive)", fields=[name]
            )
        previous, previous_name = value, name


def _rule(
    window: AlertWindow,
    threshold: Fraction,
    counts_by_window: Mapping[timedelta, Counts],
    budget_ratio: Fraction,
    min_events: int,
) -> AlertRule:
    """Evaluate one rule: both burns, the events guard, and a status word."""
    long = counts_by_window.get(window.long, Counts(0, 0))
    short = counts_by_window.get(window.short, Counts(0, 0))
    long_burn, short_burn = _exact_burn(long, budget_ratio), _exact_burn(short, budget_ratio)
    enough = long.total >= min_events and short.total >= min_events
    long_over = long_burn is not None and long_burn > threshold
    if long_burn is None or (long_over and short_burn is None):
        status = NO_DATA
    elif long_over and short_burn is not None and short_burn > threshold:
        status = FIRING if enough else TOO_FEW
    else:
        status = RECOVERING if long_over else OK
    return AlertRule(
        severity=window.severity,
        long=window_label(window.long),
        short=window_label(window.short),
        budget_fraction=window.budget_fraction,
        threshold=window.threshold,
        long_burn=None if long_burn is None else float(long_burn),
        short_burn=None if short_burn is None else float(short_burn),
        long_events=long.total,
        short_events=short.total,
        enough_events=enough,
        firing=status == FIRING,
        status=status,
    )


def _firing_reason(window: AlertWindow, rule: AlertRule, period: timedelta) -> str:
    """Say which rule fires and with which numbers."""
    assert rule["long_burn"] is not None and rule["short_burn"] is not None
    return (
        f"{rule['long']} burn {_num(rule['long_burn'])} and {rule['short']} burn "
        f"{_num(rule['short_burn'])} exceed {_num(window.threshold)} "
        f"({window.severity}: {window.budget_fraction:.0%} of the {window_label(period)} "
        f"budget in {rule['long']})"
    )


def _quiet_reason(rules: list[AlertRule], min_events: int) -> str:
    """Say why nothing fires: too few events, recovering, no data, or all burns within limits."""
    for rule in rules:
        if rule["status"] == TOO_FEW:
            return (
                f"not firing, too few events: {rule['long']} burn {_num(rule['long_burn'])} "
                f"and {rule['short']} burn {_num(rule['short_burn'])} exceed "
                f"{_num(rule['threshold'])}, but the windows saw {rule['long_events']} and "
                f"{rule['short_events']} events ({min_events} needed in each)"
            )
    for rule in rules:
        if rule["status"] == RECOVERING:
            return (
                f"recovering: {rule['long']} burn {_num(rule['long_burn'])} still exceeds "
                f"{_num(rule['threshold'])} but {rule['short']} burn "
                f"{_num(rule['short_burn'])} does not"
            )
    if all(rule["status"] == NO_DATA for rule in rules):
        return "no events in the alert windows, so no burn rate can be computed"
    parts = [
        f"{rule['long']} no data"
        if rule["long_burn"] is None
        else f"{rule['long']} {_num(rule['long_burn'])} ≤ {_num(rule['threshold'])}"
        for rule in rules
    ]
    return f"no burn rate exceeds its threshold ({', '.join(parts)})"


def _exact_window_threshold(window: AlertWindow, period: timedelta) -> Fraction:
    """Return a rule's threshold exactly (its float field is rounded)."""
    return _exact_threshold(Fraction(repr(window.budget_fraction)), period, window.long)


def _exact_burn(c: Counts, budget_ratio: Fraction) -> Fraction | None:
    """Return (bad/total)/(1 − S) exactly, None without events."""
    if c.total == 0:
        return None
    return Fraction(c.bad, c.total) / budget_ratio


def _exact_threshold(fraction: Fraction, period: timedelta, window: timedelta) -> Fraction:
    """Return f·P/w exactly."""
    _check_duration(period, "period")
    _check_duration(window, "window")
    return fraction * _microseconds(period) / _microseconds(window)


def _budget_ratio(objective: object) -> Fraction:
    """Return 1 − S exactly from the decimal the caller wrote, refusing S outside (0, 1)."""
    if not _is_number(objective) or not 0 < objective < 1:
        raise InvalidInput(
            "objective: must be a ratio between 0 and 1 (exclusive), e.g. 0.999",
            fields=["objective"],
        )
    return 1 - Fraction(repr(float(objective)))


def _fraction(value: object, name: str, *, allow_zero: bool = False) -> Fraction:
    """Return a ratio in (0, 1] (or [0, 1]) exactly, refusing anything else."""
    low_ok = allow_zero and _is_number(value) and value == 0
    if not _is_number(value) or not (low_ok or 0 < value <= 1):
        bounds = "[0, 1]" if allow_zero else "(0, 1]"
        raise InvalidInput(f"{name}: must be a ratio in {bounds}", fields=[name])
    return Fraction(repr(float(value)))


def _check_duration(value: object, name: str) -> None:
    """Refuse anything but a positive timedelta."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"{name}: must be a positive duration", fields=[name])


def _check_windows(counts_by_window: Mapping[timedelta, Counts]) -> None:
    """Refuse windows that are not positive durations or counts that are not Counts."""
    for window, counts in counts_by_window.items():
        _check_duration(window, "counts_by_window")
        if not isinstance(counts, Counts):
            raise InvalidInput(
                f"counts_by_window: {window_label(window)} must map to Counts",
                fields=["counts_by_window"],
            )


def _microseconds(window: timedelta) -> int:
    """Return a duration in whole microseconds, the exact unit of timedelta."""
    return window // _MICROSECOND


def _severity_rank(severity: str) -> int:
    """Return 1 for SEV1 … 4 for SEV4 (lower is worse)."""
    return int(severity[-1])


def _num(value: float | None) -> str:
    """Write a burn rate or threshold with up to three decimals: 14.4, 6, 0.933."""
    if value is None:
        return "n/a"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _is_number(value: object) -> TypeGuard[float]:
    """Tell whether a value is a finite real number (and not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
