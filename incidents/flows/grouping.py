"""Apply the alerts of one group to its incident: open, reopen, attach, raise, settle (DESIGN §5).

Times from alert sources are repaired, never refused: the caller has already clamped
future times to the receipt time, and resolution times are kept within the incident's own
ordering here, so no alert is ever dropped for its clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.lifecycle import Event, ImpactSource, Status, apply_event
from incidents.domain.refs import incident_key, slice_key
from incidents.domain.severity import Severity
from incidents.domain.timeline import TimelineKind
from incidents.flows.incidents import changes_as_data, timestamps_of
from incidents.flows.settle import acknowledge_from_source, note, raise_severity, settle, worst
from incidents.runbooks import URL_MAX, labels_of_incident, link_for
from incidents.store import intake as intake_store
from incidents.store.models import AlertRecord, Incident
from incidents.store.rows import new_row

TITLE_MAX = 300
WEB_LINK = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """The incident a group's alerts went to, and whether this delivery opened it."""

    incident: Incident
    opened: bool


def apply_group(
    alerts: Sequence[Alert], *, now: datetime, settings: Settings, session: Session
) -> GroupOutcome | None:
    """Bring one group's incident up to date with `alerts`; None when nothing applies."""
    first = alerts[0]
    incident = intake_store.find_open_incident(
        session, source=first.source, group_key=first.group_key
    )
    firing = [alert for alert in alerts if alert.status is AlertStatus.FIRING]
    opened = False
    if incident is None and firing:
        incident = _reopen(first, now=now, settings=settings, session=session)
        if incident is None:
            incident, opened = _open(firing, now=now, settings=settings, session=session), True
    if incident is None:
        return None  # resolved or acknowledged alerts of a group we have no open incident for
    for alert in alerts:
        if alert.status is AlertStatus.ACKNOWLEDGED:
            acknowledge_from_source(incident, alert, now=now, session=session)
        else:
            _attach(incident, alert, now=now, session=session)
    raise_severity(incident, alerts, now=now, session=session)
    if not firing:  # a firing alert was just attached: nothing can settle
        settle(incident, now=now, settings=settings, session=session)
    return GroupOutcome(incident, opened)  # flushed by the caller's savepoint or commit


def _open(
    firing: Sequence[Alert], *, now: datetime, settings: Settings, session: Session
) -> Incident:
    """Open an incident for a new group: detection is the earliest alert start."""
    earliest = min(firing, key=lambda alert: alert.starts_at)
    detected_at = earliest.starts_at
    onsets = [a.impact_started_at for a in firing if a.impact_started_at is not None]
    impact_at = min(onsets) if onsets else None
    has_onset = impact_at is not None and impact_at < detected_at
    incident = Incident(
        title=earliest.title[:TITLE_MAX],
        summary=earliest.summary,
        status=Status.TRIGGERED.value,
        severity=worst(firing).value,
        source=earliest.source,
        group_key=earliest.group_key,
        service=earliest.service,
        model=earliest.model,
        model_version=earliest.model_version,
        slice=dict(earliest.slice) if earliest.slice else None,
        slice_key=slice_key(dict(earliest.slice) if earliest.slice else None),
        reporter=earliest.source,
        impact_started_source=(ImpactSource.SOURCE if has_onset else ImpactSource.DEFAULTED).value,
        impact_started_at=impact_at if has_onset and impact_at else detected_at,
        detected_at=detected_at,
        reported_at=now,
        created_at=now,
        updated_at=now,
    )
    incident.runbook = _runbook(incident, firing, settings=settings)
    intake_store.open_incident(session, incident)
    intake_store.remember_open(session, incident)
    text = f"{incident_key(_id(incident))} opened by {earliest.source}: {incident.title}"
    note(
        session,
        incident,
        TimelineKind.OPENED,
        at=detected_at,
        now=now,
        text=text,
        data={"source": earliest.source, "group_key": earliest.group_key},
    )
    return incident


def _runbook(incident: Incident, firing: Sequence[Alert], *, settings: Settings) -> str | None:
    """Link the runbook an alert names itself (its rule's author chose it: Alertmanager's
    ``runbook_url``, a link called "runbook"), else the best match in the runbooks folder."""
    ordered = sorted(firing, key=lambda alert: alert.starts_at)
    for alert in ordered:
        for link in alert.links:
            href = link.href.strip()
            named = link.text.lower() == "runbook"
            if named and href.startswith(WEB_LINK) and len(href) <= URL_MAX:
                return href
    labels = labels_of_incident(incident, [alert.labels for alert in ordered])
    return link_for(labels, runbooks_dir=settings.runbooks_dir, public_url=settings.public_url)


def _reopen(
    alert: Alert, *, now: datetime, settings: Settings, session: Session
) -> Incident | None:
    """Reopen the group's incident if it auto-resolved within the reopen window (flapping)."""
    incident = intake_store.find_reopenable(
        session, source=alert.source, group_key=alert.group_key, since=now - settings.reopen_window
    )
    if incident is None:
        return None
    outcome = apply_event(Status(incident.status), timestamps_of(incident), Event.REOPEN, at=now)
    incident.status = outcome.status.value
    for change in outcome.changes:
        setattr(incident, change.field, change.new)
    incident.resolved_by = None
    session.flush()  # the open-group index refuses a second open incident here
    intake_store.remember_open(session, incident)
    note(
        session,
        incident,
        TimelineKind.REOPENED,
        at=now,
        now=now,
        text=f"reopened: {alert.title} fired again within {settings.reopen_window}",
        data={"changes": changes_as_data(outcome.changes)},
    )
    return incident


def _attach(incident: Incident, alert: Alert, *, now: datetime, session: Session) -> None:
    """Add a new alert, or count a repeat; only real changes reach the timeline."""
    record = intake_store.find_matching_alert(
        session,
        incident_id=_id(incident),
        source=alert.source,
        fingerprint=alert.fingerprint,
        starts_at=alert.starts_at,
    )
    if record is None:
        intake_store.add_alert(session, _new_record(incident, alert, now=now))
        note(
            session,
            incident,
            TimelineKind.ALERT_ADDED,
            at=alert.starts_at,
            now=now,
            text=f"alert {alert.status.value}: {alert.title}",
            data={"fingerprint": alert.fingerprint, "status": alert.status.value},
        )
        return
    if record.incident_id != incident.id:
        _adopt(incident, record, alert, now=now, session=session)
        return
    intake_store.count_repeat(session, record, now=now)
    if Severity(alert.severity).rank < Severity(record.severity).rank:
        record.severity = alert.severity.value
    if record.status != alert.status.value:
        _change_alert_status(incident, record, alert, now=now, session=session)


def _adopt(
    incident: Incident, record: AlertRecord, alert: Alert, *, now: datetime, session: Session
) -> None:
    """Move an alert row from an older incident to this one: the same alert fired again."""
    record.incident_id = _id(incident)
    record.status = alert.status.value
    record.ends_at = alert.ends_at if alert.status is AlertStatus.RESOLVED else None
    intake_store.count_repeat(session, record, now=now)
    note(
        session,
        incident,
        TimelineKind.ALERT_ADDED,
        at=alert.starts_at,
        now=now,
        text=f"alert {alert.status.value}: {alert.title}",
        data={"fingerprint": alert.fingerprint, "status": alert.status.value},
    )


def _change_alert_status(
    incident: Incident, record: AlertRecord, alert: Alert, *, now: datetime, session: Session
) -> None:
    """Record an alert resolving, or firing again with the same start."""
    record.status = alert.status.value
    if alert.status is AlertStatus.RESOLVED:
        record.ends_at = alert.ends_at or now
        note(
            session,
            incident,
            TimelineKind.ALERT_RESOLVED,
            at=record.ends_at,
            now=now,
            text=f"alert resolved: {record.title}",
            data={"fingerprint": record.fingerprint},
        )
    else:
        record.ends_at = None
        note(
            session,
            incident,
            TimelineKind.ALERT_REFIRED,
            at=now,
            now=now,
            text=f"alert firing again: {record.title}",
            data={"fingerprint": record.fingerprint},
        )


def _new_record(incident: Incident, alert: Alert, *, now: datetime) -> AlertRecord:
    """Build the stored form of an alert."""
    return new_row(AlertRecord, {
        "incident_id": _id(incident),
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "group_key": alert.group_key,
        "status": alert.status.value,
        "severity": alert.severity.value,
        "title": alert.title[:TITLE_MAX],
        "summary": alert.summary,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "links": [{"href": link.href, "text": link.text} for link in alert.links],
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at if alert.status is AlertStatus.RESOLVED else None,
        "first_seen_at": now,
        "last_seen_at": now,
    })  # fmt: skip


def _id(incident: Incident) -> int:
    """Return the id of a flushed incident."""
    assert incident.id is not None
    return incident.id
