"""Repository functions for alert intake: open groups, alerts, and seen deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, case, delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from incidents.domain.lifecycle import Status
from incidents.store.models import AlertRecord, Delivery, Incident

AUTO_ACTOR = "auto"
DELIVERY_MEMORY = timedelta(hours=24)


def find_open_incident(session: Session, *, source: str, group_key: str) -> Incident | None:
    """Return the open incident of a group, locked for update.

    Within one transaction the answer is remembered: the row lock holds until commit, so
    nobody else can have changed it, and group commit applies many deliveries of the same
    group in one transaction.
    """
    known = _open_groups(session)
    cached = known.get((source, group_key))
    if cached is not None and cached in session and cached.status != Status.RESOLVED.value:
        return cached
    statement = (
        select(Incident)
        .where(Incident.source == source, Incident.group_key == group_key)
        .where(Incident.status != Status.RESOLVED.value)
        .with_for_update()
    )
    found = session.exec(statement).first()
    if found is not None:
        known[(source, group_key)] = found
    return found


def remember_open(session: Session, incident: Incident) -> None:
    """Note an incident this transaction opened or reopened as its group's open one."""
    _open_groups(session)[(incident.source, incident.group_key or "")] = incident


def _open_groups(session: Session) -> dict[tuple[str, str], Incident]:
    """Return this transaction's open incidents by group (a new map per transaction)."""
    transaction = session.get_transaction()
    mark, stored = session.info.get(_OPEN_GROUPS, (None, None))
    if mark is transaction and stored is not None:
        return cast(dict[tuple[str, str], Incident], stored)
    known: dict[tuple[str, str], Incident] = {}
    session.info[_OPEN_GROUPS] = (transaction, known)
    return known


_OPEN_GROUPS = "incidents_open_groups"


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
    """Return the incident's firing alert with this fingerprint, else the exact identity.

    One query led by (source, fingerprint), the unique index's prefix: an incident's alerts
    all come from its own source, and filtering by incident first would scan every alert
    of the incident, which under a storm grows with each delivery.
    """
    firing_here = and_(
        col(AlertRecord.incident_id) == incident_id, col(AlertRecord.status) == "firing"
    )
    statement = (
        select(AlertRecord)
        .where(AlertRecord.source == source, AlertRecord.fingerprint == fingerprint)
        .where(or_(firing_here, col(AlertRecord.starts_at) == starts_at))
        .order_by(case((firing_here, 0), else_=1))
        .limit(1)
    )
    return session.exec(statement).first()


def alert_states(session: Session, incident_id: int) -> tuple[int, int, datetime | None, int]:
    """Return (alerts, unresolved, latest end, resolved without an end) of an incident.

    One aggregate in the database instead of loading every alert row: settling asks this
    on each delivery that resolves something, and a stormy incident holds thousands.
    """
    unresolved = case((col(AlertRecord.status) != "resolved", 1), else_=0)
    endless = case((col(AlertRecord.ends_at).is_(None), 1), else_=0)
    statement = select(
        func.count(), func.coalesce(func.sum(unresolved), 0), func.max(AlertRecord.ends_at),
        func.coalesce(func.sum(endless), 0),
    ).where(AlertRecord.incident_id == incident_id)  # fmt: skip
    count, open_, latest, missing = session.exec(statement).one()
    return int(count), int(open_), latest, int(missing)


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery's row: its id, whether it was seen before, and the first answer if so."""

    id: int
    seen: bool
    result: dict[str, Any] | None = None


def claim_delivery(
    session: Session,
    *,
    source: str,
    key: str,
    now: datetime,
    memory: timedelta = DELIVERY_MEMORY,
) -> Claim:
    """Record a delivery, or learn that it was already seen within `memory`.

    One upsert: a new key is inserted, an expired one starts afresh, a live one is left
    alone and returns no row. On PostgreSQL a concurrent claim of the same key waits for
    the first to commit, so exactly one of them applies the delivery.
    """
    insert = _dialect_insert(session)
    statement = insert(Delivery).values(source=source, key=key, received_at=now, result=None)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "key"],
        set_={"received_at": statement.excluded.received_at, "result": None},
        where=col(Delivery.received_at) < now - memory,
    ).returning(col(Delivery.id))
    claimed = session.execute(statement).scalar_one_or_none()
    if claimed is not None:
        return Claim(id=int(claimed), seen=False)
    first = session.execute(
        select(col(Delivery.id), col(Delivery.result)).where(
            Delivery.source == source, Delivery.key == key
        )
    ).one()
    return Claim(id=int(first[0]), seen=True, result=first[1])


def record_result(session: Session, claim: Claim, result: dict[str, Any]) -> None:
    """Keep a delivery's answer for its redeliveries."""
    session.execute(update(Delivery).where(col(Delivery.id) == claim.id).values(result=result))


def _dialect_insert(session: Session) -> Any:
    """Return the INSERT construct with ON CONFLICT for the session's database."""
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


def forget_old_deliveries(session: Session, *, now: datetime) -> None:
    """Delete delivery records older than the idempotency window."""
    cutoff = now - DELIVERY_MEMORY
    session.execute(delete(Delivery).where(col(Delivery.received_at) < cutoff))
