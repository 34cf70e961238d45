"""Intake rules of DESIGN §5 through the flow: grouping, dedup, idempotency, resolution,
flapping, severity, clock skew — and the timeline entries each produces."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.lifecycle import Event
from incidents.domain.severity import Severity
from incidents.flows import intake
from incidents.flows.incidents import change_status
from incidents.store.models import AlertRecord, Incident, TimelineEntry
from tests.fakes import FrozenClock

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def alert(
    fp: str = "a1",
    *,
    group: str = "g",
    status: str = "firing",
    starts: float = 0,
    ends: float | None = None,
    severity: Severity = Severity.SEV3,
    **extra,
) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=fp,
        group_key=group,
        status=AlertStatus(status),
        severity=severity,
        title=f"alert {fp}",
        starts_at=T0 + timedelta(minutes=starts),
        ends_at=None if ends is None else T0 + timedelta(minutes=ends),
        **extra,
    )  # fmt: skip


class Intake:
    def __init__(self, engine, clock: FrozenClock, settings: Settings):
        self.engine, self.clock, self.settings = engine, clock, settings
        self.deliveries = 0

    def send(self, *alerts: Alert, key: str | None = None) -> intake.IntakeResult:
        self.deliveries += 1
        with Session(self.engine, expire_on_commit=False) as session:
            return intake.receive(
                "alertmanager",
                list(alerts),
                delivery_key=key or f"delivery-{self.deliveries}",
                settings=self.settings,
                session=session,
                clock=self.clock,
            )

    def incidents(self) -> list[Incident]:
        with Session(self.engine) as session:
            return list(session.exec(select(Incident).order_by(col(Incident.id))).all())

    def alerts(self) -> list[AlertRecord]:
        with Session(self.engine) as session:
            return list(session.exec(select(AlertRecord).order_by(col(AlertRecord.id))).all())

    def kinds(self, incident_id: int = 1) -> list[str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(TimelineEntry)
                .where(TimelineEntry.incident_id == incident_id)
                .order_by(col(TimelineEntry.id))
            ).all()
            return [row.kind for row in rows]


@pytest.fixture
def flow(engine, settings):
    clock = FrozenClock(T0 + timedelta(minutes=1))
    return Intake(engine, clock, settings)


def test_two_alerts_of_one_group_open_one_incident_detected_at_their_start(flow):
    result = flow.send(alert("a1", starts=0), alert("a2", starts=0.5))
    assert result.incidents == [1] and result.alerts == 2 and not result.duplicate
    (incident,) = flow.incidents()
    assert incident.detected_at == T0
    assert incident.reported_at == T0 + timedelta(minutes=1)
    assert incident.impact_started_source == "defaulted"
    assert incident.source == "alertmanager" and incident.group_key == "g"
    assert flow.kinds() == ["opened", "alert_added", "alert_added"]


def test_repeats_only_count_and_add_no_timeline_noise(flow):
    flow.send(alert("a1"))
    flow.clock.advance(minutes=5)
    flow.send(alert("a1"))
    flow.send(alert("a1"))
    (record,) = flow.alerts()
    assert record.seen_count == 3
    assert record.last_seen_at == flow.clock.now()
    assert flow.kinds() == ["opened", "alert_added"]


def test_a_redelivery_is_a_duplicate_and_changes_nothing(flow):
    first = flow.send(alert("a1"), key="same")
    flow.clock.advance(minutes=1)
    again = flow.send(alert("a1"), alert("a2"), key="same")
    assert again.duplicate and again.incidents == first.incidents
    assert [r.seen_count for r in flow.alerts()] == [1]


def test_a_delivery_key_is_forgotten_after_24_hours(flow):
    flow.send(alert("a1"), key="same")
    flow.clock.advance(hours=25)
    assert not flow.send(alert("a1"), key="same").duplicate


def test_separate_groups_get_separate_incidents(flow):
    result = flow.send(alert("a1", group="g1"), alert("b1", group="g2"))
    assert result.incidents == [1, 2]


def test_all_alerts_resolved_auto_resolves_at_the_latest_end(flow):
    flow.send(alert("a1"), alert("a2"))
    flow.clock.advance(minutes=10)
    flow.send(alert("a1", status="resolved", ends=3), alert("a2", status="firing"))
    assert flow.incidents()[0].status == "triggered"
    flow.send(alert("a2", status="resolved", ends=7))
    (incident,) = flow.incidents()
    assert incident.status == "resolved"
    assert incident.mitigated_at == T0 + timedelta(minutes=7)
    assert incident.resolved_at == T0 + timedelta(minutes=7)
    assert incident.resolved_by == "auto"
    assert flow.kinds()[-3:] == ["alert_resolved", "alert_resolved", "auto_resolved"]


def test_without_auto_resolve_only_mitigation_is_stamped(engine, database_url):
    flow = Intake(engine, FrozenClock(T0 + timedelta(minutes=9)),
                  Settings(database_url=database_url, auto_resolve=False))  # fmt: skip
    flow.send(alert("a1"))
    flow.send(alert("a1", status="resolved", ends=8))
    (incident,) = flow.incidents()
    assert incident.status == "mitigated"
    assert incident.mitigated_at == T0 + timedelta(minutes=8)
    assert incident.resolved_at is None


def test_a_human_mitigation_is_kept_when_alerts_resolve_later(flow):
    flow.send(alert("a1"))
    flow.clock.advance(minutes=10)
    with Session(flow.engine, expire_on_commit=False) as session:
        change_status(1, Event.MITIGATE, actor="alice", at=T0 + timedelta(minutes=4), note=None,
                      session=session, clock=flow.clock)  # fmt: skip
    flow.send(alert("a1", status="resolved", ends=2))
    (incident,) = flow.incidents()
    assert incident.mitigated_at == T0 + timedelta(minutes=4)
    assert incident.resolved_at == T0 + timedelta(minutes=4), "never before the mitigation"


def test_a_resolved_alert_for_an_unknown_group_opens_nothing(flow):
    result = flow.send(alert("a1", status="resolved", ends=0.5))
    assert result.incidents == [] and flow.incidents() == []


def test_flapping_within_the_reopen_window_reopens(flow):
    flow.send(alert("a1"))
    flow.send(alert("a1", status="resolved", ends=0.5))
    flow.clock.advance(minutes=3)
    result = flow.send(alert("a1", starts=3.5))
    assert result.incidents == [1]
    (incident,) = flow.incidents()
    assert incident.status == "triggered"
    assert incident.resolved_at is None and incident.mitigated_at is None
    assert "reopened" in flow.kinds()


def test_firing_after_the_reopen_window_opens_a_new_incident(flow):
    flow.send(alert("a1"))
    flow.send(alert("a1", status="resolved", ends=0.5))
    flow.clock.advance(minutes=30)
    result = flow.send(alert("a1", starts=30))
    assert result.incidents == [2]
    assert [i.status for i in flow.incidents()] == ["resolved", "triggered"]


def test_a_human_resolution_is_not_reopened_by_flapping(flow):
    flow.send(alert("a1"))
    with Session(flow.engine, expire_on_commit=False) as session:
        change_status(1, Event.RESOLVE, actor="bob", at=None, note=None, session=session,
                      clock=flow.clock)  # fmt: skip
    flow.clock.advance(minutes=1)
    assert flow.send(alert("a1", starts=1.5)).incidents == [2]


def test_severity_takes_the_highest_alert_and_raising_is_on_the_timeline(flow):
    flow.send(alert("a1", severity=Severity.SEV3))
    flow.send(alert("a2", severity=Severity.SEV1))
    flow.send(alert("a3", severity=Severity.SEV4))
    (incident,) = flow.incidents()
    assert incident.severity == "SEV1"
    assert flow.kinds().count("severity_raised") == 1


def test_a_source_clock_ahead_of_ours_is_clamped_and_noted(flow):
    flow.send(alert("a1", starts=10))  # 9 minutes after receipt
    (incident,) = flow.incidents()
    assert incident.detected_at == flow.clock.now()
    assert "clock_skew" in flow.kinds()


def test_ml_window_start_becomes_the_impact_start(flow):
    onset = T0 - timedelta(hours=2)
    flow.send(alert("m1", impact_started_at=onset))
    (incident,) = flow.incidents()
    assert incident.impact_started_at == onset
    assert incident.impact_started_source == "source"


def test_a_window_start_after_detection_is_ignored(flow):
    flow.send(alert("m1", impact_started_at=T0 + timedelta(seconds=30)))
    (incident,) = flow.incidents()
    assert incident.impact_started_at == T0 and incident.impact_started_source == "defaulted"


def test_sender_acknowledgement_stamps_once_and_opens_nothing(flow):
    assert flow.send(alert("p1", status="acknowledged")).incidents == []
    flow.send(alert("p1"))
    flow.clock.advance(minutes=2)
    ack = dataclasses.replace(alert("p1", status="acknowledged"), actor="Dana",
                              starts_at=flow.clock.now())  # fmt: skip
    flow.send(ack)
    flow.send(dataclasses.replace(ack, starts_at=flow.clock.now() + timedelta(seconds=1)))
    (incident,) = flow.incidents()
    assert incident.status == "acknowledged"
    assert incident.acknowledged_at == flow.clock.now()
    assert incident.acknowledged_by == "Dana"
    assert flow.kinds().count("acknowledged") == 1
    assert len(flow.alerts()) == 1


def test_long_titles_are_cut_to_fit(flow):
    flow.send(dataclasses.replace(alert("a1"), title="x" * 5000))
    assert len(flow.incidents()[0].title) == 300


def test_over_long_keys_are_hashed_and_names_cut(flow):
    long_group, long_fp = "g" * 2000, "f" * 1000
    flow.send(dataclasses.replace(alert("a1", group=long_group), fingerprint=long_fp,
                                  service="s" * 999))  # fmt: skip
    flow.send(dataclasses.replace(alert("a1", group=long_group), fingerprint=long_fp))
    (incident,) = flow.incidents()
    assert incident.group_key is not None and incident.group_key.startswith("sha256:")
    assert incident.service == "s" * 200
    (record,) = flow.alerts()
    assert record.fingerprint.startswith("sha256:") and record.seen_count == 2
