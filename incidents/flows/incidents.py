"""Declare incidents and move them through their lifecycle; every change lands on the timeline."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from incidents.config import get_settings
from incidents.domain.lifecycle import (
    Change,
    Event,
    ImpactSource,
    Outcome,
    Status,
    Timestamps,
    apply_event,
    check_ordering,
)
from incidents.domain.refs import incident_key, slice_key
from incidents.domain.severity import Severity
from incidents.domain.timeinput import ensure_not_future
from incidents.domain.timeline import TimelineKind
from incidents.errors import ConfigError, OrderingViolation
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier
from incidents.runbooks import labels_of_incident, link_for
from incidents.store import incidents as store
from incidents.store import overrides as override_store
from incidents.store.models import Incident, TimelineEntry

log = logging.getLogger(__name__)

EVENT_KIND: dict[Event, TimelineKind] = {
    Event.ACKNOWLEDGE: TimelineKind.ACKNOWLEDGED,
    Event.MITIGATE: TimelineKind.MITIGATED,
    Event.RESOLVE: TimelineKind.RESOLVED,
    Event.REOPEN: TimelineKind.REOPENED,
}


@dataclass(frozen=True, slots=True)
class Declaration:
    """What a person (or the API) says when declaring an incident."""

    title: str
    severity: Severity
    service: str | None = None
    model: str | None = None
    model_version: str | None = None
    slice: dict[str, str] | None = None
    summary: str | None = None
    commander: str | None = None
    actor: str | None = None
    impact_started_at: datetime | None = None
    detected_at: datetime | None = None


def timestamps_of(incident: Incident) -> Timestamps:
    """Return the lifecycle timestamps of a stored incident."""
    return Timestamps(
        impact_started_at=incident.impact_started_at,
        detected_at=incident.detected_at,
        reported_at=incident.reported_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
    )


def declare(
    declaration: Declaration,
    *,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
    runbooks_dir: Path | None = None,
    public_url: str | None = None,
) -> Incident:
    """Open a manual incident: detection defaults to now, impact start to detection.

    The best-matching runbook in `runbooks_dir` is linked under `public_url` (both default to
    the process settings, ``INCIDENTS_RUNBOOKS_DIR`` and ``INCIDENTS_PUBLIC_URL``).
    """
    now = clock.now()
    ensure_not_future(
        {
            "detected_at": declaration.detected_at,
            "impact_started_at": declaration.impact_started_at,
        },
        now=now,
    )
    detected_at = min(declaration.detected_at, now) if declaration.detected_at else now
    impact_source = ImpactSource.HUMAN if declaration.impact_started_at else ImpactSource.DEFAULTED
    check_ordering(
        Timestamps(
            impact_started_at=declaration.impact_started_at or detected_at,
            detected_at=detected_at,
            reported_at=now,
        )
    )
    incident = _new_incident(declaration, detected_at, now=now, source=impact_source)
    incident.runbook = _runbook(incident, runbooks_dir=runbooks_dir, public_url=public_url)
    incident = store.add_incident(session, incident)
    record_entry(
        session,
        incident,
        kind=TimelineKind.DECLARED,
        at=detected_at,
        now=now,
        actor=declaration.actor,
        text=f"{incident_key(_id(incident))} declared: {incident.title}",
        data={"severity": incident.severity},
    )
    notifier.incident_opened(session, incident, now=now, declared=True)
    session.commit()
    return incident


def _runbook(
    incident: Incident, *, runbooks_dir: Path | None, public_url: str | None
) -> str | None:
    """Return the URL of the runbook that best matches a declared incident, if any."""
    if runbooks_dir is None or public_url is None:
        try:
            settings = get_settings()
        except ConfigError as exc:  # a runbook link never stops a declaration
            log.warning("no runbook linked: %s", exc.message)
            return None
        runbooks_dir = runbooks_dir or settings.runbooks_dir
        public_url = public_url or settings.public_url
    labels = labels_of_incident(incident)
    return link_for(labels, runbooks_dir=runbooks_dir, public_url=public_url)


def _new_incident(
    declaration: Declaration, detected_at: datetime, *, now: datetime, source: ImpactSource
) -> Incident:
    """Build the row for a declaration."""
    return Incident(
        title=declaration.title,
        summary=declaration.summary,
        status=Status.TRIGGERED.value,
        severity=declaration.severity.value,
        service=declaration.service,
        model=declaration.model,
        model_version=declaration.model_version,
        slice=declaration.slice or None,
        slice_key=slice_key(declaration.slice),
        commander=declaration.commander,
        reporter=declaration.actor,
        impact_started_source=source.value,
        impact_started_at=declaration.impact_started_at or detected_at,
        detected_at=detected_at,
        reported_at=now,
        created_at=now,
        updated_at=now,
    )


def change_status(
    ref: str | int,
    event: Event,
    *,
    actor: str | None,
    at: datetime | None,
    note: str | None,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> Incident:
    """Apply a lifecycle event (optionally back-dated to `at`) and record it."""
    now = clock.now()
    ensure_not_future({"at": at}, now=now)
    when = min(at, now) if at else now  # within the skew tolerance: clamp to now
    incident = store.get_incident(session, ref, for_update=True)
    outcome = _apply(incident, event, at=when)
    incident.status = outcome.status.value
    _store_changes(incident, outcome.changes)
    if event is Event.ACKNOWLEDGE:
        incident.acknowledged_by = actor
    if event in (Event.RESOLVE, Event.REOPEN):
        incident.resolved_by = actor if event is Event.RESOLVE else None
    incident.updated_at = now
    record_entry(
        session,
        incident,
        kind=EVENT_KIND[event],
        at=when,
        now=now,
        actor=actor,
        text=note,
        data={"status": outcome.status.value, "changes": changes_as_data(outcome.changes)},
    )
    if event is Event.RESOLVE and incident.id is not None:
        override_store.end_all_for(session, incident.id, reason="resolved", now=now, actor=actor)
    notifier.incident_changed(session, incident, now=now)
    session.commit()
    return incident


def _apply(incident: Incident, event: Event, *, at: datetime) -> Outcome:
    """Apply `event`, explaining an ordering error caused by a defaulted impact start."""
    try:
        return apply_event(Status(incident.status), timestamps_of(incident), event, at=at)
    except OrderingViolation as exc:
        defaulted = incident.impact_started_source == ImpactSource.DEFAULTED.value
        if not defaulted or "impact_started_at" not in exc.fields:
            raise
        raise OrderingViolation(
            f"{exc.message} (impact start was defaulted to detection at "
            f"{incident.detected_at.isoformat()}; correct impact_started_at first if impact "
            "began earlier)",
            fields=sorted({*exc.fields, "detected_at"}),
        ) from None


def add_note(
    ref: str | int,
    *,
    text: str,
    actor: str | None,
    at: datetime | None,
    session: Session,
    clock: Clock,
) -> TimelineEntry:
    """Append a free-text note to an incident's timeline."""
    now = clock.now()
    ensure_not_future({"at": at}, now=now)
    incident = store.get_incident(session, ref)
    when = min(at, now) if at else now
    entry = record_entry(
        session, incident, kind=TimelineKind.NOTE, at=when, now=now, actor=actor, text=text
    )
    session.commit()
    return entry


def changes_as_data(changes: tuple[Change, ...]) -> list[dict[str, str | None]]:
    """Turn timestamp changes into JSON-ready old/new pairs for the timeline."""
    return [{"field": c.field, "old": _iso(c.old), "new": _iso(c.new)} for c in changes]


def _store_changes(incident: Incident, changes: tuple[Change, ...]) -> None:
    """Copy changed timestamps onto the row."""
    for change in changes:
        setattr(incident, change.field, change.new)


def record_entry(
    session: Session,
    incident: Incident,
    *,
    kind: TimelineKind,
    at: datetime,
    now: datetime,
    actor: str | None,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    flush: bool = True,
) -> TimelineEntry:
    """Append one timeline entry for `incident` (flushes unless told not to; no commit)."""
    entry = TimelineEntry(
        **timeline_row(incident, kind=kind, at=at, now=now, actor=actor, text=text, data=data)
    )
    return store.add_timeline_entry(session, entry, flush=flush)


def timeline_row(
    incident: Incident,
    *,
    kind: TimelineKind,
    at: datetime,
    now: datetime,
    actor: str | None,
    text: str | None,
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    """Return the column values of one timeline entry for `incident`."""
    return {"incident_id": _id(incident), "at": at, "recorded_at": now, "kind": kind.value,
            "actor": actor, "text": text, "data": data}  # fmt: skip


def _id(incident: Incident) -> int:
    """Return the id of a flushed incident."""
    if incident.id is None:
        raise RuntimeError("incident has no id before flush")
    return incident.id


def _iso(value: datetime | None) -> str | None:
    """Format a timestamp for JSON."""
    return None if value is None else value.isoformat()
