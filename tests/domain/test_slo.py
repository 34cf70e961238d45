"""SLO math: derived thresholds, budget arithmetic and tiers, exhaustion, multiwindow alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidents.domain.slo import (
    DEFAULT_TIERS,
    POSTMORTEM_REQUIRED_FRACTION,
    Counts,
    Tiers,
    alert_windows,
    budget,
    budget_consumed_by,
    burn_rate,
    burn_rates,
    burn_threshold,
    detection_time,
    evaluate_alerts,
    postmortem_required,
    sli_ratio,
    time_to_exhaustion,
    window_label,
)
from incidents.errors import InvalidInput

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
P30, P28 = timedelta(days=30), timedelta(days=28)
ALERT_WINDOWS = [m * MINUTE for m in (5, 30, 60, 120, 360, 1440, 4320)]


# --- synthetic per-minute series ----------------------------------------------------------


def minute_series(
    minutes: int, per_minute: int, errors: dict[int, int] | None = None
) -> list[Counts]:
    """Per-minute counts, oldest first; errors maps 'minutes ago' (0 = latest) to bad events."""
    errors = errors or {}
    return [Counts(per_minute - errors.get(minutes - 1 - i, 0), per_minute) for i in range(minutes)]


def trailing(series: list[Counts], end: int | None = None) -> dict[timedelta, Counts]:
    """Counts of every alert window ending after minute ``end`` (default: the latest)."""
    end = len(series) if end is None else end
    result = {}
    for window in ALERT_WINDOWS:
        span = series[max(0, end - window // MINUTE) : end]
        result[window] = Counts(sum(c.good for c in span), sum(c.total for c in span))
    return result


def spread(minutes_ago: range, bad: int) -> dict[int, int]:
    """The same number of bad events in each of the given minutes."""
    return dict.fromkeys(minutes_ago, bad)


THREE_DAYS = 3 * 24 * 60


# --- F1, F3, F4: ratios and thresholds ------------------------------------------------------


def test_sli_and_burn_rate():
    assert sli_ratio(Counts(999, 1000)) == 0.999
    assert sli_ratio(Counts(0, 0)) is None  # no data is neither 0% nor 100%
    assert burn_rate(Counts(999, 1000), 0.999) == 1.0  # 0.1% errors / 0.1% budget
    # 144 bad of 10,000 = 1.44%; / 0.1% = 14.4 exactly (no 14.399999 from 1 − 0.999)
    assert burn_rate(Counts(10_000 - 144, 10_000), 0.999) == 14.4
    assert burn_rate(Counts(0, 0), 0.999) is None
    assert Counts(970, 1000).bad == 30


def test_thresholds_30_day_period():
    # f·P/w with P = 720 h: 0.02·720/1 = 14.4, 0.05·720/6 = 6, 0.10·720/24 = 3, 0.10·720/72 = 1
    windows = alert_windows(P30)
    assert [w.threshold for w in windows] == [14.4, 6.0, 3.0, 1.0]
    assert [w.severity for w in windows] == ["SEV1", "SEV2", "SEV3", "SEV3"]
    assert [w.long for w in windows] == [HOUR, 6 * HOUR, DAY, 3 * DAY]
    assert [w.short for w in windows] == [5 * MINUTE, 30 * MINUTE, 2 * HOUR, 6 * HOUR]
    assert [w.budget_fraction for w in windows] == [0.02, 0.05, 0.10, 0.10]


def test_thresholds_28_day_period_are_not_14_4():
    # P = 672 h: 0.02·672 = 13.44, 0.05·672/6 = 5.6, 0.10·672/24 = 2.8, 0.10·672/72 = 0.9333…
    thresholds = [w.threshold for w in alert_windows(P28)]
    assert thresholds[:3] == [13.44, 5.6, 2.8]
    assert thresholds[3] == pytest.approx(0.9333, abs=1e-4)
    assert thresholds[3] == 28 / 30


def test_burn_threshold_formula_and_short_periods():
    assert burn_threshold(0.02, P30, HOUR) == 14.4
    assert burn_threshold(0.05, P28, 6 * HOUR) == 5.6
    assert burn_threshold(1.0, P30, P30) == 1.0  # the whole budget over the whole period
    # a 2-day SLO has no 3-day rule: it would count events from outside the period
    assert [w.long for w in alert_windows(2 * DAY)] == [HOUR, 6 * HOUR, DAY]
    with pytest.raises(InvalidInput) as error:
        burn_threshold(0.02, P30, timedelta(0))
    assert error.value.fields == ["window"]
    with pytest.raises(InvalidInput):
        burn_threshold(0.0, P30, HOUR)


# --- F2, F5, F6: budget and tiers -----------------------------------------------------------


def test_budget_arithmetic():
    # S = 0.999 over 1,000,000 events: 0.001·1,000,000 = 1,000 bad events allowed;
    # 400 bad → consumed 400/1000 = 0.4, remaining 0.6
    b = budget(0.999, P30, Counts(1_000_000 - 400, 1_000_000))
    assert b.allowed_bad == 1000.0
    assert (b.total_events, b.bad_events) == (1_000_000, 400)
    assert (b.consumed, b.remaining, b.state) == (0.4, 0.6, "healthy")
    assert (b.objective, b.period) == (0.999, P30)


def test_workbook_example_four_weeks():
    # SRE Workbook: 1,000,000 requests over 4 weeks at 99.9% → 1,000 allowed errors
    assert budget(0.999, P28, Counts(1_000_000, 1_000_000)).allowed_bad == 1000.0
    # S = 0.995 over 200,000 events: 0.005·200,000 = 1,000 allowed; 250 bad → 25% consumed
    b = budget(0.995, P28, Counts(200_000 - 250, 200_000))
    assert (b.allowed_bad, b.consumed, b.remaining) == (1000.0, 0.25, 0.75)


@pytest.mark.parametrize(
    ("bad", "remaining", "state"),
    [
        (0, 1.0, "healthy"),
        (499, 0.501, "healthy"),
        (500, 0.5, "caution"),  # each state starts at its bound: > 50% is healthy
        (749, 0.251, "caution"),
        (750, 0.25, "slow"),
        (899, 0.101, "slow"),
        (900, 0.1, "critical"),
        (999, 0.001, "critical"),
        (1000, 0.0, "exhausted"),
        (1200, -0.2, "exhausted"),  # overspent: reported, not clipped
    ],
)
def test_default_tiers(bad, remaining, state):
    b = budget(0.999, P30, Counts(1_000_000 - bad, 1_000_000))
    assert b.remaining == pytest.approx(remaining, abs=1e-12)
    assert b.state == state
    assert b.consumed == pytest.approx(bad / 1000, abs=1e-12)


def test_tiers_are_configurable_and_checked():
    assert DEFAULT_TIERS == Tiers(caution=0.50, slow=0.25, critical=0.10)
    strict = Tiers(caution=0.75, slow=0.50, critical=0.25)
    assert budget(0.999, P30, Counts(999_600, 1_000_000), strict).state == "caution"  # 0.6 left
    for tiers, name in (
        (Tiers(caution=0.2, slow=0.25, critical=0.1), "slow"),
        (Tiers(caution=1.0), "caution"),
        (Tiers(critical=0.0), "critical"),
    ):
        with pytest.raises(InvalidInput) as error:
            budget(0.999, P30, Counts(1, 1), tiers)
        assert error.value.fields == [name]


def test_budget_without_events_is_no_data():
    b = budget(0.999, P30, Counts(0, 0))
    assert (b.allowed_bad, b.consumed, b.remaining, b.state) == (0.0, None, None, "no data")
    assert budget_consumed_by(10, b) is None
    assert time_to_exhaustion(b, Counts(90, 100), HOUR) is None


@pytest.mark.parametrize("objective", [0, 1, 1.5, -0.1, 99.9, float("nan"), True, "0.999"])
def test_objective_must_be_a_ratio(objective):
    with pytest.raises(InvalidInput) as error:
        budget(objective, P30, Counts(1, 1))
    assert error.value.fields == ["objective"]


def test_counts_and_period_are_checked():
    with pytest.raises(InvalidInput) as error:
        Counts(5, 4)
    assert error.value.fields == ["good"]
    with pytest.raises(InvalidInput) as error:
        Counts(-1, 4)
    assert error.value.fields == ["good"]
    with pytest.raises(InvalidInput) as error:
        Counts(1, 2.5)  # type: ignore[arg-type]
    assert error.value.fields == ["total"]
    with pytest.raises(InvalidInput) as error:
        budget(0.999, timedelta(0), Counts(1, 1))
    assert error.value.fields == ["period"]
    with pytest.raises(InvalidInput) as error:
        evaluate_alerts(0.999, P30, {-HOUR: Counts(1, 1)})
    assert error.value.fields == ["counts_by_window"]


# --- F7: time to exhaustion -----------------------------------------------------------------


def test_time_to_exhaustion_by_hand():
    b = budget(0.999, P30, Counts(1_000_000 - 400, 1_000_000))  # 1000 allowed, 600 left
    # 50 bad in the last hour → 50/h → 600/50 = 12 h
    assert time_to_exhaustion(b, Counts(9_950, 10_000), HOUR) == timedelta(hours=12)
    # 10 bad in the last 30 min → 20/h → 600/20 = 30 h
    assert time_to_exhaustion(b, Counts(4_990, 5_000), 30 * MINUTE) == timedelta(hours=30)
    # 7 bad in 6 h → 7/6 per hour → 600·6/7 h = 514 h 17 min 8.571… s
    assert time_to_exhaustion(b, Counts(993, 1000), 6 * HOUR) == timedelta(hours=3600 / 7)


def test_time_to_exhaustion_never_and_already():
    b = budget(0.999, P30, Counts(1_000_000 - 400, 1_000_000))
    assert time_to_exhaustion(b, Counts(10_000, 10_000), HOUR) is None  # no bad events: never
    spent = budget(0.999, P30, Counts(1_000_000 - 1_000, 1_000_000))
    assert time_to_exhaustion(spent, Counts(10_000, 10_000), HOUR) == timedelta(0)
    over = budget(0.999, P30, Counts(1_000_000 - 1_500, 1_000_000))
    assert time_to_exhaustion(over, Counts(9_000, 10_000), HOUR) == timedelta(0)
    with pytest.raises(InvalidInput):
        time_to_exhaustion(b, Counts(1, 1), timedelta(0))


# --- F5 per incident: postmortem rule -------------------------------------------------------


def test_incident_budget_share_and_postmortem_rule():
    b = budget(0.999, P28, Counts(1_000_000 - 300, 1_000_000))  # 1000 allowed
    assert POSTMORTEM_REQUIRED_FRACTION == 0.20
    assert budget_consumed_by(250, b) == 0.25  # 250 of 1000 allowed
    assert postmortem_required(budget_consumed_by(250, b))
    assert budget_consumed_by(200, b) == 0.2
    assert not postmortem_required(budget_consumed_by(200, b))  # "> 20%", so exactly 20% is not
    assert postmortem_required(budget_consumed_by(201, b))
    assert not postmortem_required(None)
    with pytest.raises(InvalidInput):
        budget_consumed_by(-1, b)


# --- F9: detection time ---------------------------------------------------------------------


def test_detection_time_oracles():
    # ((1 − S)/e)·w·thr: full outage 0.001/1·60 min·14.4 = 0.864 min = 51.84 s
    assert detection_time(0.999, 1.0, HOUR, 14.4) == timedelta(seconds=51.84)
    # e = 2%: 0.001/0.02·60·14.4 = 43.2 min
    assert detection_time(0.999, 0.02, HOUR, 14.4) == timedelta(minutes=43.2)
    # e = 1.44% is exactly the threshold ratio: the strict rule never fires
    assert detection_time(0.999, 0.0144, HOUR, 14.4) is None
    assert detection_time(0.999, 0.0, HOUR, 14.4) is None


# --- F8: multiwindow, multi-burn-rate alerts ------------------------------------------------


def test_fires_when_both_windows_burn():
    # 1000 requests/min at 99.9%. The last 55 min before the latest 5 ran at 2% (20 bad/min),
    # the latest 5 at 3% (30 bad/min):
    #   5m: 150/5,000 = 3%        → burn 30
    #   1h: (55·20 + 150)/60,000  → 1250/60,000 = 2.0833% → burn 20.833
    #   6h: 1250/360,000 → 3.47 < 6;  1d: 0.868 < 3;  3d: 0.289 < 1
    errors = spread(range(5), 30) | spread(range(5, 60), 20)
    state = evaluate_alerts(0.999, P30, trailing(minute_series(THREE_DAYS, 1000, errors)))
    assert state.firing and state.severity == "SEV1"
    assert state.window == alert_windows(P30)[0]
    assert state.long_burn == pytest.approx(1250 / 60_000 / 0.001)
    assert state.short_burn == pytest.approx(30.0)
    assert state.reason == (
        "1h burn 20.833 and 5m burn 30 exceed 14.4 (SEV1: 2% of the 30d budget in 1h)"
    )
    assert [rule["status"] for rule in state.rules] == ["firing", "ok", "ok", "ok"]
    first = state.rules[0]
    assert (first["long"], first["short"], first["threshold"]) == ("1h", "5m", 14.4)
    assert (first["long_events"], first["short_events"], first["enough_events"]) == (
        60_000,
        5_000,
        True,
    )


def test_recovering_long_window_still_high_short_window_clear():
    # 20 minutes at 10% (100 bad/min) that ended 35 minutes ago:
    #   1h: 2000/60,000 = 3.33% → burn 33.333 > 14.4, but 5m: 0 → not firing
    #   6h: 2000/360,000 → 5.556 < 6 (and 30m: 0);  1d: 1.389 < 3;  3d: 0.463 < 1
    errors = spread(range(36, 56), 100)
    state = evaluate_alerts(0.999, P30, trailing(minute_series(THREE_DAYS, 1000, errors)))
    assert not state.firing
    assert state.severity is None and state.window is None
    assert state.reason == "recovering: 1h burn 33.333 still exceeds 14.4 but 5m burn 0 does not"
    assert state.rules[0]["status"] == "recovering"
    assert state.rules[0]["long_burn"] == pytest.approx(100 / 3)
    assert state.rules[0]["short_burn"] == 0.0


def test_too_few_events_does_not_page_and_says_so():
    # 1 request/min; 3 of the latest 5 failed:
    #   1h: 3/60 = 5% → burn 50, 5m: 3/5 → burn 600, both over 14.4, but 60 and 5 < 100 events
    #   6h: 3/360 → burn 8.33 > 6, 30m: 3/30 → burn 100 > 6, but 30 < 100 events
    #   1d: 3/1440 → 2.083 < 3;  3d: 3/4320 → 0.694 < 1
    series = minute_series(THREE_DAYS, 1, spread(range(3), 1))
    state = evaluate_alerts(0.999, P30, trailing(series))
    assert not state.firing and state.severity is None
    assert [rule["status"] for rule in state.rules] == [
        "too few events",
        "too few events",
        "ok",
        "ok",
    ]
    assert [rule["enough_events"] for rule in state.rules] == [False, False, True, True]
    assert state.reason == (
        "not firing, too few events: 1h burn 50 and 5m burn 600 exceed 14.4, "
        "but the windows saw 60 and 5 events (100 needed in each)"
    )
    # the same data with the guard lowered pages: the guard, not the burn, kept it quiet
    assert evaluate_alerts(0.999, P30, trailing(series), min_events=5).severity == "SEV1"


def test_most_severe_firing_rule_wins():
    # 2% errors for the last 6 hours: burn 20 in every window up to 6h;
    #   1d: 6·60·20/1,440,000 = 0.5% → 5 > 3;  3d: 7200/4,320,000 → 1.667 > 1: all four fire
    series = minute_series(THREE_DAYS, 1000, spread(range(360), 20))
    state = evaluate_alerts(0.999, P30, trailing(series))
    assert [rule["firing"] for rule in state.rules] == [True, True, True, True]
    assert (state.severity, state.window) == ("SEV1", alert_windows(P30)[0])
    # a slow burn (1% for 12 h → burn 10) trips the 6h page and the tickets, not the 1h page
    slow = minute_series(THREE_DAYS, 1000, spread(range(720), 10))
    state = evaluate_alerts(0.999, P30, trailing(slow))
    assert [rule["status"] for rule in state.rules] == ["ok", "firing", "firing", "firing"]
    assert state.severity == "SEV2" and state.window == alert_windows(P30)[1]
    assert state.reason.startswith("6h burn 10 and 30m burn 10 exceed 6 (SEV2")


def test_alert_over_time_fires_after_detection_time_and_resets_within_the_short_window():
    # 15 minutes at 10% (100 bad/min of 1000) after three quiet days. The 1h window passes
    # 14.4 once it holds > 864 bad events: after 9 minutes (detection time 0.001/0.1·60·14.4 =
    # 8.64 min); the 5m window clears 5 minutes after the errors stop (minute 20).
    quiet = minute_series(THREE_DAYS, 1000)
    incident = [Counts(900, 1000)] * 15 + [Counts(1000, 1000)] * 15
    series = quiet + incident
    firing = [
        minute
        for minute in range(1, 31)
        if evaluate_alerts(0.999, P30, trailing(series, THREE_DAYS + minute)).firing
    ]
    assert firing == list(range(9, 20))
    assert detection_time(0.999, 0.1, HOUR, 14.4) == timedelta(minutes=8.64)


def test_threshold_is_strict_and_derived_from_the_period():
    at_threshold = {HOUR: Counts(10_000 - 144, 10_000), 5 * MINUTE: Counts(5_000 - 72, 5_000)}
    state = evaluate_alerts(0.999, P30, at_threshold)  # both burns exactly 14.4
    assert not state.firing and state.rules[0]["status"] == "ok"
    above = {HOUR: Counts(10_000 - 145, 10_000), 5 * MINUTE: Counts(5_000 - 73, 5_000)}
    assert evaluate_alerts(0.999, P30, above).severity == "SEV1"
    # burn 14 pages on a 28-day SLO (13.44) but not on a 30-day one (14.4)
    burn_14 = {HOUR: Counts(10_000 - 140, 10_000), 5 * MINUTE: Counts(5_000 - 70, 5_000)}
    assert evaluate_alerts(0.999, P28, burn_14).severity == "SEV1"
    assert not evaluate_alerts(0.999, P30, burn_14).firing


def test_min_events_boundary_and_missing_windows():
    exactly_100 = {HOUR: Counts(1_000 - 100, 1_000), 5 * MINUTE: Counts(50, 100)}
    assert evaluate_alerts(0.999, P30, exactly_100).firing  # ≥ 100 events is enough
    ninety_nine = {HOUR: Counts(1_000 - 100, 1_000), 5 * MINUTE: Counts(49, 99)}
    assert evaluate_alerts(0.999, P30, ninety_nine).rules[0]["status"] == "too few events"
    empty = evaluate_alerts(0.999, P30, {})
    assert not empty.firing
    assert empty.reason == "no events in the alert windows, so no burn rate can be computed"
    assert all(rule["status"] == "no data" for rule in empty.rules)


def test_quiet_reason_lists_every_burn():
    state = evaluate_alerts(0.999, P30, trailing(minute_series(THREE_DAYS, 1000)))
    assert not state.firing
    assert state.reason == (
        "no burn rate exceeds its threshold (1h 0 ≤ 14.4, 6h 0 ≤ 6, 24h 0 ≤ 3, 3d 0 ≤ 1)"
    )


def test_burn_rates_over_the_reporting_windows():
    # 0.2% errors everywhere → burn 2; the 3d window is missing
    windows = {
        HOUR: Counts(998, 1000),
        6 * HOUR: Counts(5_988, 6_000),
        DAY: Counts(23_952, 24_000),
    }
    assert burn_rates(0.999, windows) == {"1h": 2.0, "6h": 2.0, "24h": 2.0, "3d": None}


def test_window_labels():
    labels = [window_label(w) for w in [*ALERT_WINDOWS, P28, timedelta(seconds=90)]]
    assert labels == ["5m", "30m", "1h", "2h", "6h", "24h", "3d", "28d", "90s"]
