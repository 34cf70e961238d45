"""Repository functions for incidents, alerts and timeline entries (flush, never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from incidents.domain.lifecycle import Status
from incidents.domain.refs import parse_incident_ref
from incidents.errors import NotFound
from incidents.store.models import AlertRecord, Incident, IncidentTouch, TimelineEntry


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """What ``list_incidents`` may filter on; None means any."""

    statuses: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    service: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    slice_key: str | None = None  # canonical, e.g. "language=de" (see domain.refs.slice_key)


def add_incident(session: Session, incident: Incident) -> Incident:
    """Insert an incident and flush so it has an id."""
    session.add(incident)
    session.flush()
    return incident


def find_incident(session: Session, ref: str | int, *, for_update: bool = False) -> Incident | None:
    """Return the incident named by `ref` (id or key), or None."""
    statement = select(Incident).where(Incident.id == parse_incident_ref(ref))
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def get_incident(session: Session, ref: str | int, *, for_update: bool = False) -> Incident:
    """Return the incident named by `ref`, or raise NotFound."""
    incident = find_incident(session, ref, for_update=for_update)
    if incident is None:
        raise NotFound(f"no incident {ref}")
    return incident


def list_incidents(
    session: Session, *, where: IncidentFilter, limit: int, before_id: int | None = None
) -> list[Incident]:
    """Return incidents newest first, matching `where`, with ids below `before_id`."""
    statement = select(Incident)
    for condition in _conditions(where):
        statement = statement.where(condition)
    if before_id is not None:
        statement = statement.where(col(Incident.id) < before_id)
    statement = statement.order_by(col(Incident.id).desc()).limit(limit)
    return list(session.exec(statement).all())


def _conditions(where: IncidentFilter) -> list[Any]:
    """Translate a filter into SQL conditions."""
    conditions: list[Any] = []
    if where.statuses:
        conditions.append(col(Incident.status).in_(list(where.statuses)))
    if where.severities:
        conditions.append(col(Incident.severity).in_(list(where.severities)))
    if where.service is not None:
        conditions.append(col(Incident.service) == where.service)
    if where.model is not None:
        conditions.append(col(Incident.model) == where.model)
    if where.since is not None:
        conditions.append(col(Incident.detected_at) >= where.since)
    if where.until is not None:
        conditions.append(col(Incident.detected_at) < where.until)
    if where.slice_key is not None:
        conditions.append(col(Incident.slice_key) == where.slice_key)
    return conditions


def add_timeline_entry(
    session: Session, entry: TimelineEntry, *, flush: bool = True
) -> TimelineEntry:
    """Append one timeline entry; flush unless the caller lets it ride with the next write."""
    session.add(entry)
    if flush:
        session.flush()
    return entry


def list_timeline(session: Session, incident_id: int) -> list[TimelineEntry]:
    """Return an incident's timeline in the order things happened."""
    statement = (
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident_id)
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list(session.exec(statement).all())


def updated_at(session: Session, incident: Incident) -> datetime:
    """Return when the incident last changed: its own ``updated_at``, or a later timeline
    touch the group-commit writers recorded apart (models.IncidentTouch)."""
    statement = select(func.max(IncidentTouch.at)).where(IncidentTouch.incident_id == incident.id)
    touched = session.exec(statement).one()
    return max(incident.updated_at, touched) if touched is not None else incident.updated_at


def list_alerts(session: Session, incident_id: int) -> list[AlertRecord]:
    """Return an incident's alerts, oldest first."""
    statement = (
        select(AlertRecord)
        .where(AlertRecord.incident_id == incident_id)
        .order_by(col(AlertRecord.starts_at), col(AlertRecord.id))
    )
    return list(session.exec(statement).all())


def count_incidents(session: Session) -> int:
    """Return how many incidents were ever opened."""
    return int(session.exec(select(func.count()).select_from(Incident)).one())


def count_open_by_severity(session: Session) -> dict[str, int]:
    """Return the number of unresolved incidents per severity."""
    statement = (
        select(Incident.severity, func.count())
        .where(Incident.status != Status.RESOLVED.value)
        .group_by(Incident.severity)
    )
    return {severity: int(count) for severity, count in session.exec(statement).all()}
