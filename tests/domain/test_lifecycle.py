"""The lifecycle table, first-stamp-wins, ordering rules, reopen and durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidents.domain.lifecycle import (
    TRANSITIONS,
    Event,
    ImpactSource,
    Status,
    Timestamps,
    apply_event,
    correct,
    durations,
    ordering_violations,
    transition,
)
from incidents.errors import IllegalTransition, OrderingViolation

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fresh(impact: float = 0, detected: float = 5, reported: float = 6) -> Timestamps:
    return Timestamps(
        impact_started_at=at(impact), detected_at=at(detected), reported_at=at(reported)
    )


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (Status.TRIGGERED, Event.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Status.TRIGGERED, Event.MITIGATE, Status.MITIGATED),
        (Status.TRIGGERED, Event.RESOLVE, Status.RESOLVED),
        (Status.ACKNOWLEDGED, Event.MITIGATE, Status.MITIGATED),
        (Status.ACKNOWLEDGED, Event.RESOLVE, Status.RESOLVED),
        (Status.MITIGATED, Event.ACKNOWLEDGE, Status.MITIGATED),
        (Status.MITIGATED, Event.RESOLVE, Status.RESOLVED),
        (Status.RESOLVED, Event.REOPEN, Status.TRIGGERED),
    ],
)
def test_allowed_transitions(status, event, expected):
    assert transition(status, event) is expected


@pytest.mark.parametrize(
    ("status", "event"),
    [(s, e) for s in Status for e in Event if (s, e) not in TRANSITIONS],
)
def test_every_other_transition_is_illegal_and_names_the_status(status, event):
    with pytest.raises(IllegalTransition) as caught:
        transition(status, event)
    assert caught.value.status == status.value
    assert status.value in caught.value.message


def test_acknowledge_stamps_once_and_first_wins():
    outcome = apply_event(Status.TRIGGERED, fresh(), Event.ACKNOWLEDGE, at=at(10))
    assert outcome.status is Status.ACKNOWLEDGED
    assert outcome.timestamps.acknowledged_at == at(10)
    mitigated = apply_event(outcome.status, outcome.timestamps, Event.MITIGATE, at=at(20))
    resolved = apply_event(mitigated.status, mitigated.timestamps, Event.RESOLVE, at=at(30))
    reopened = apply_event(resolved.status, resolved.timestamps, Event.REOPEN, at=at(31))
    again = apply_event(reopened.status, reopened.timestamps, Event.ACKNOWLEDGE, at=at(40))
    assert again.timestamps.acknowledged_at == at(10), "the first acknowledgement stays"
    assert again.changes == ()


def test_late_acknowledgement_after_automatic_mitigation_keeps_status():
    mitigated = apply_event(Status.TRIGGERED, fresh(), Event.MITIGATE, at=at(7))
    acked = apply_event(mitigated.status, mitigated.timestamps, Event.ACKNOWLEDGE, at=at(12))
    assert acked.status is Status.MITIGATED
    assert acked.timestamps.acknowledged_at == at(12)
    with pytest.raises(IllegalTransition, match="already acknowledged"):
        apply_event(acked.status, acked.timestamps, Event.ACKNOWLEDGE, at=at(13))


def test_resolve_without_mitigation_stamps_mitigation_at_resolution():
    outcome = apply_event(Status.ACKNOWLEDGED, fresh(), Event.RESOLVE, at=at(42))
    assert outcome.timestamps.resolved_at == at(42)
    assert outcome.timestamps.mitigated_at == at(42)
    assert {c.field for c in outcome.changes} == {"resolved_at", "mitigated_at"}


def test_resolve_keeps_an_earlier_mitigation():
    mitigated = apply_event(Status.TRIGGERED, fresh(), Event.MITIGATE, at=at(20))
    resolved = apply_event(mitigated.status, mitigated.timestamps, Event.RESOLVE, at=at(50))
    assert resolved.timestamps.mitigated_at == at(20)


def test_reopen_clears_mitigation_and_resolution_and_reports_old_values():
    resolved = apply_event(Status.TRIGGERED, fresh(), Event.RESOLVE, at=at(30))
    reopened = apply_event(resolved.status, resolved.timestamps, Event.REOPEN, at=at(35))
    assert reopened.status is Status.TRIGGERED
    assert reopened.timestamps.mitigated_at is None
    assert reopened.timestamps.resolved_at is None
    assert {(c.field, c.old) for c in reopened.changes} == {
        ("mitigated_at", at(30)),
        ("resolved_at", at(30)),
    }
    final = apply_event(reopened.status, reopened.timestamps, Event.RESOLVE, at=at(90))
    assert durations(final.timestamps, impact_source=ImpactSource.HUMAN).time_to_resolve == (
        timedelta(minutes=90)
    )


def test_acknowledgement_before_detection_is_refused_naming_fields():
    with pytest.raises(OrderingViolation) as caught:
        apply_event(Status.TRIGGERED, fresh(), Event.ACKNOWLEDGE, at=at(4))
    assert caught.value.fields == ["acknowledged_at", "detected_at"]


def test_mitigation_before_impact_is_refused_naming_fields():
    with pytest.raises(OrderingViolation) as caught:
        apply_event(Status.TRIGGERED, fresh(impact=2), Event.MITIGATE, at=at(1))
    assert caught.value.fields == ["impact_started_at", "mitigated_at"]


def test_mitigation_may_precede_acknowledgement():
    mitigated = apply_event(Status.TRIGGERED, fresh(), Event.MITIGATE, at=at(6))
    acked = apply_event(mitigated.status, mitigated.timestamps, Event.ACKNOWLEDGE, at=at(20))
    assert ordering_violations(acked.timestamps) == []


def test_correction_reports_old_and_new_and_checks_ordering():
    ts = fresh().with_values(acknowledged_at=at(10))
    corrected, changes = correct(ts, impact_started_at=at(-30))
    assert corrected.impact_started_at == at(-30)
    assert [(c.field, c.old, c.new) for c in changes] == [("impact_started_at", at(0), at(-30))]
    with pytest.raises(OrderingViolation) as caught:
        correct(ts, detected_at=at(20))
    assert set(caught.value.fields) == {"acknowledged_at", "detected_at", "reported_at"}


def test_durations_follow_the_definitions():
    ts = Timestamps(
        impact_started_at=at(0),
        detected_at=at(5),
        reported_at=at(6),
        acknowledged_at=at(9),
        mitigated_at=at(30),
        resolved_at=at(65),
    )
    result = durations(ts, impact_source=ImpactSource.SOURCE)
    assert result.time_to_detect == timedelta(minutes=5)
    assert result.time_to_acknowledge == timedelta(minutes=4)
    assert result.time_to_mitigate == timedelta(minutes=30)
    assert result.time_to_resolve == timedelta(minutes=65)
    assert result.time_to_resolve_from_detection == timedelta(minutes=60)


def test_time_to_detect_is_null_when_impact_start_was_defaulted():
    ts = fresh(impact=5)
    assert durations(ts, impact_source=ImpactSource.DEFAULTED).time_to_detect is None
    assert durations(ts, impact_source=ImpactSource.DEFAULTED).time_to_acknowledge is None


# --- properties -----------------------------------------------------------------------

offsets = st.integers(min_value=-600, max_value=600)
events = st.lists(st.tuples(st.sampled_from(list(Event)), offsets), max_size=12)


@given(impact=st.integers(-600, 0), gap=st.integers(0, 600), steps=events)
def test_any_sequence_of_events_keeps_the_ordering_invariants(impact, gap, steps):
    """Whatever events arrive at whatever times, an accepted state is always in order."""
    status = Status.TRIGGERED
    ts = Timestamps(impact_started_at=at(impact), detected_at=at(0), reported_at=at(gap))
    for event, minute in steps:
        before = ts
        try:
            outcome = apply_event(status, ts, event, at=at(minute))
        except (IllegalTransition, OrderingViolation):
            continue
        status, ts = outcome.status, outcome.timestamps
        assert ordering_violations(ts) == []
        _assert_first_stamp_wins(before, ts, event)
        _assert_status_matches_stamps(status, ts)
        found = durations(ts, impact_source=ImpactSource.HUMAN)
        for value in (found.time_to_detect, found.time_to_mitigate, found.time_to_resolve):
            assert value is None or value >= timedelta(0)


def _assert_first_stamp_wins(before: Timestamps, after: Timestamps, event: Event) -> None:
    if event is Event.REOPEN:
        return
    for name in ("acknowledged_at", "mitigated_at", "resolved_at"):
        if before.get(name) is not None:
            assert after.get(name) == before.get(name), f"{name} was overwritten"


def _assert_status_matches_stamps(status: Status, ts: Timestamps) -> None:
    assert (status is Status.RESOLVED) == (ts.resolved_at is not None)
    if status is Status.MITIGATED:
        assert ts.mitigated_at is not None
    if status is Status.ACKNOWLEDGED:
        assert ts.acknowledged_at is not None


@given(st.lists(st.integers(-100, 100), min_size=6, max_size=6))
def test_ordering_violations_are_exactly_the_broken_pairs(minutes):
    ts = Timestamps(
        impact_started_at=at(minutes[0]),
        detected_at=at(minutes[1]),
        reported_at=at(minutes[2]),
        acknowledged_at=at(minutes[3]),
        mitigated_at=at(minutes[4]),
        resolved_at=at(minutes[5]),
    )
    broken = set(ordering_violations(ts))
    expected = {
        (a, b)
        for a, b, x, y in (
            ("impact_started_at", "detected_at", 0, 1),
            ("detected_at", "reported_at", 1, 2),
            ("detected_at", "acknowledged_at", 1, 3),
            ("impact_started_at", "mitigated_at", 0, 4),
            ("mitigated_at", "resolved_at", 4, 5),
        )
        if minutes[x] > minutes[y]
    }
    assert broken == expected
