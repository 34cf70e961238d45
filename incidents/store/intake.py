"""Repository functions for alert intake: open groups, alerts, and seen deliveries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from incidents.domain.lifecycle import Status
from incidents.store.models import AlertRecord, Delivery, Incident

AUTO_ACTOR = "auto"
DELIVERY_MEMORY = timedelta(hours=24)


def find_open_incident(session: Session, *, source: str, group_key: str) -> Incident | None:
    """Return the open incident of a group, locked for update."""
    statement = (
        select(Incident)
        .where(Incident.source == source, Incident.group_key == group_key)
        .where(Incident.status != Status.RESOLVED.value)
        .with_for_update()
    )
    return session.exec(statement).first()


def find_reopenable(
    session: Session, *, source: str, group_key: str, since: datetime
) -> Incident | None:
    """Return the group's newest incident auto-resolved at or after `since`, locked."""
    statement = (
        select(Incident)
        .where(Incident.source == source, Incident.group_key == group_key)
        .where(Incident.status == Status.RESOLVED.value, Incident.resolved_by == AUTO_ACTOR)
        .where(col(Incident.resolved_at) >= since)
        .order_by(col(Incident.id).desc())
        .limit(1)
        .with_for_update()
    )
    return session.exec(statement).first()


def find_matching_alert(
    session: Session, *, incident_id: int, source: str, fingerprint: str, starts_at: datetime
) -> AlertRecord | None:
    """Return the incident's firing alert with this fingerprint, else the exact identity."""
    firing = select(AlertRecord).where(
        AlertRecord.incident_id == incident_id,
        AlertRecord.fingerprint == fingerprint,
        AlertRecord.status == "firing",
    )
    found = session.exec(firing).first()
    if found is not None:
        return found
    exact = select(AlertRecord).where(
        AlertRecord.source == source,
        AlertRecord.fingerprint == fingerprint,
        AlertRecord.starts_at == starts_at,
    )
    return session.exec(exact).first()


def claim_delivery(
    session: Session,
    *,
    source: str,
    key: str,
    now: datetime,
    memory: timedelta = DELIVERY_MEMORY,
) -> tuple[Delivery, bool]:
    """Record a delivery; return it and whether it was already seen within `memory`."""
    seen = session.exec(
        select(Delivery).where(Delivery.source == source, Delivery.key == key)
    ).first()
    if seen is not None and seen.received_at >= now - memory:
        return seen, True
    if seen is not None:
        session.delete(seen)
        session.flush()
    delivery = Delivery(source=source, key=key, received_at=now)
    try:
        with session.begin_nested():
            session.add(delivery)
    except IntegrityError:
        # Another process claimed the same delivery first; it is a duplicate.
        winner = session.exec(
            select(Delivery).where(Delivery.source == source, Delivery.key == key)
        ).one()
        return winner, True
    return delivery, False


def forget_old_deliveries(session: Session, *, now: datetime) -> None:
    """Delete delivery records older than the idempotency window."""
    cutoff = now - DELIVERY_MEMORY
    session.execute(delete(Delivery).where(col(Delivery.received_at) < cutoff))
