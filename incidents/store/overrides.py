"""Repository functions for routing overrides (flush, never commit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from incidents.domain.timeline import TimelineKind
from incidents.store.models import Incident, Override, TimelineEntry


def active(session: Session, *, model: str | None, now: datetime) -> list[Override]:
    """Return the overrides in force now: not ended, not expired, incident not resolved."""
    statement = (
        select(Override)
        .join(Incident, col(Incident.id) == col(Override.incident_id))
        .where(col(Override.ended_at).is_(None))
        .where(or_(col(Override.expires_at).is_(None), col(Override.expires_at) > now))
        .where(col(Incident.status) != "resolved")
        .order_by(col(Override.id))
    )
    if model is not None:
        statement = statement.where(col(Override.model) == model)
    return list(session.exec(statement).all())


def listed(
    session: Session, *, model: str | None, incident_id: int | None = None
) -> list[Override]:
    """Return every override (ended ones too), oldest first."""
    statement = select(Override).order_by(col(Override.id))
    if model is not None:
        statement = statement.where(col(Override.model) == model)
    if incident_id is not None:
        statement = statement.where(col(Override.incident_id) == incident_id)
    return list(session.exec(statement).all())


def due_to_end(session: Session, *, now: datetime) -> list[tuple[Override, str]]:
    """Return open overrides that have expired or whose incident is resolved, with why."""
    rows = session.exec(
        select(Override, Incident.status)
        .join(Incident, col(Incident.id) == col(Override.incident_id))
        .where(col(Override.ended_at).is_(None))
        .where(or_(col(Override.expires_at) <= now, col(Incident.status) == "resolved"))
        .with_for_update(of=Override)
    ).all()
    return [
        (override, "resolved" if status == "resolved" else "expired") for override, status in rows
    ]


def end(
    session: Session, override: Override, *, reason: str, now: datetime, actor: str | None
) -> None:
    """End an override and put that on its incident's timeline."""
    override.ended_at = now
    override.ended_reason = reason
    override.ended_by = actor
    session.add(
        TimelineEntry(
            incident_id=override.incident_id,
            at=now,
            recorded_at=now,
            kind=TimelineKind.OVERRIDE_ENDED.value,
            actor=actor,
            text=f"override #{override.id} ({override.model} {override.slice_key} → "
            f"{override.action}) ended: {reason}",
            data={"override_id": override.id, "reason": reason},
        )
    )


def end_all_for(
    session: Session, incident_id: int, *, reason: str, now: datetime, actor: str | None
) -> int:
    """End every open override of an incident (when it is resolved); return how many."""
    open_ones = session.exec(
        select(Override)
        .where(col(Override.incident_id) == incident_id)
        .where(col(Override.ended_at).is_(None))
    ).all()
    for override in open_ones:
        end(session, override, reason=reason, now=now, actor=actor)
    return len(open_ones)
