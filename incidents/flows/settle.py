"""What an intake does to an incident beyond attaching alerts: the sender's acknowledgement,
severity raising, and settling (mitigate/resolve) when every alert has resolved."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.lifecycle import TRANSITIONS, Event, Status, apply_event
from incidents.domain.severity import Severity
from incidents.domain.timeline import TimelineKind
from incidents.flows.incidents import changes_as_data, timeline_row, timestamps_of
from incidents.store import bulk
from incidents.store import incidents as store
from incidents.store import intake as intake_store
from incidents.store.intake import AUTO_ACTOR
from incidents.store.models import Incident, TimelineEntry


def acknowledge_from_source(
    incident: Incident, alert: Alert, *, now: datetime, session: Session
) -> None:
    """Stamp the sender's acknowledgement when the lifecycle allows it (first one wins)."""
    status = Status(incident.status)
    if incident.acknowledged_at is not None or (status, Event.ACKNOWLEDGE) not in TRANSITIONS:
        return
    at = max(alert.starts_at, incident.detected_at)
    outcome = apply_event(status, timestamps_of(incident), Event.ACKNOWLEDGE, at=at)
    incident.status = outcome.status.value
    incident.acknowledged_at = at
    incident.acknowledged_by = alert.actor or alert.source
    note(
        session,
        incident,
        TimelineKind.ACKNOWLEDGED,
        at=at,
        now=now,
        text=f"acknowledged in {alert.source}",
        actor=incident.acknowledged_by,
    )


def raise_severity(
    incident: Incident, alerts: Sequence[Alert], *, now: datetime, session: Session
) -> None:
    """Take the highest severity of the group's firing alerts; never lower it by itself."""
    firing = [alert for alert in alerts if alert.status is AlertStatus.FIRING]
    if not firing:
        return
    highest = worst(firing)
    if highest.rank >= Severity(incident.severity).rank:
        return
    old, incident.severity = incident.severity, highest.value
    note(
        session,
        incident,
        TimelineKind.SEVERITY_RAISED,
        at=now,
        now=now,
        text=f"severity raised {old} → {highest.value}",
        data={"old": old, "new": highest.value},
    )


def settle(incident: Incident, *, now: datetime, settings: Settings, session: Session) -> None:
    """When every alert has resolved: mitigate at the latest end, and resolve if configured."""
    session.flush()
    assert incident.id is not None
    count, unresolved, latest_end, endless = intake_store.alert_states(session, incident.id)
    if not count or unresolved:
        return
    latest = now if endless or latest_end is None else latest_end
    floor = max(t for t in (incident.impact_started_at, incident.mitigated_at) if t is not None)
    at = min(max(latest, floor), now)
    status = Status(incident.status)
    if settings.auto_resolve and (status, Event.RESOLVE) in TRANSITIONS:
        _auto(incident, Event.RESOLVE, TimelineKind.AUTO_RESOLVED, at=at, now=now, session=session)
        incident.resolved_by = AUTO_ACTOR
    elif incident.mitigated_at is None and (status, Event.MITIGATE) in TRANSITIONS:
        _auto(
            incident, Event.MITIGATE, TimelineKind.AUTO_MITIGATED, at=at, now=now, session=session
        )


def _auto(
    incident: Incident,
    event: Event,
    kind: TimelineKind,
    *,
    at: datetime,
    now: datetime,
    session: Session,
) -> None:
    """Apply an automatic lifecycle event and record it."""
    outcome = apply_event(Status(incident.status), timestamps_of(incident), event, at=at)
    incident.status = outcome.status.value
    for change in outcome.changes:
        setattr(incident, change.field, change.new)
    note(
        session,
        incident,
        kind,
        at=at,
        now=now,
        text="all alerts resolved",
        data={"changes": changes_as_data(outcome.changes)},
    )


def worst(alerts: Sequence[Alert]) -> Severity:
    """Return the most severe severity among `alerts`."""
    return min((Severity(alert.severity) for alert in alerts), key=lambda s: s.rank)


def note(
    session: Session,
    incident: Incident,
    kind: TimelineKind,
    *,
    at: datetime,
    now: datetime,
    text: str,
    data: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append a timeline entry written by the intake (flushed with the intake's next write:
    a flush per entry was a third of the cost of an alert under a storm)."""
    if not bulk.touch(session, incident, now=now):
        incident.updated_at = now
    row = timeline_row(incident, kind=kind, at=at, now=now, actor=actor or incident.source,
                       text=text, data=data)  # fmt: skip
    if not bulk.queue_timeline_row(session, row):
        store.add_timeline_entry(session, TimelineEntry(**row), flush=False)
