"""Repository functions for the outbox: add in the caller's transaction, claim with a lease,
finish, list (flush, never commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from incidents.store.models import OutboxMessage


class OutboxState(StrEnum):
    """Where a message stands."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DONE = "done"
    DEAD = "dead"


def add_message(
    session: Session,
    *,
    topic: str,
    key: str,
    payload: dict[str, Any],
    now: datetime,
    incident_id: int | None = None,
) -> OutboxMessage | None:
    """Queue a side effect in the caller's transaction; a repeated key queues nothing."""
    message = OutboxMessage(
        key=key,
        topic=topic,
        payload=payload,
        incident_id=incident_id,
        state=OutboxState.PENDING.value,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return None  # the same side effect was queued before: idempotent by key
    return message


def claim(
    session: Session, *, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[tuple[OutboxMessage, bool]]:
    """Lease up to `limit` due messages to `worker` (skipping rows other workers hold).

    A message whose lease ran out (its worker died mid-delivery) is due again, flagged as
    in doubt (the second value), so its handler checks before repeating itself.
    """
    due = or_(
        (col(OutboxMessage.state) == OutboxState.PENDING.value)
        & (col(OutboxMessage.next_attempt_at) <= now),
        (col(OutboxMessage.state) == OutboxState.DELIVERING.value)
        & (col(OutboxMessage.lease_until) < now),
    )
    statement = (
        select(OutboxMessage)
        .where(due)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    messages = list(session.exec(statement).all())
    claimed = [(message, message.state == OutboxState.DELIVERING.value) for message in messages]
    for message in messages:
        message.state = OutboxState.DELIVERING.value
        message.claimed_by = worker
        message.lease_until = now + lease
        message.attempts += 1
        message.updated_at = now
    session.flush()
    return claimed


def list_messages(
    session: Session, *, states: Sequence[str] | None, limit: int, before_id: int | None = None
) -> list[OutboxMessage]:
    """Return messages newest first, optionally only in some states."""
    statement = select(OutboxMessage)
    if states:
        statement = statement.where(col(OutboxMessage.state).in_(list(states)))
    if before_id is not None:
        statement = statement.where(col(OutboxMessage.id) < before_id)
    return list(session.exec(statement.order_by(col(OutboxMessage.id).desc()).limit(limit)).all())


def count_by_state(session: Session) -> dict[str, int]:
    """Return how many messages are in each state."""
    rows = session.exec(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ).all()
    return {state: int(count) for state, count in rows}


def has_pending(session: Session, *, topic: str, incident_id: int) -> bool:
    """Tell whether a message of `topic` for the incident is still waiting to be claimed."""
    statement = select(OutboxMessage.id).where(
        OutboxMessage.topic == topic,
        OutboxMessage.incident_id == incident_id,
        OutboxMessage.state == OutboxState.PENDING.value,
    )
    return session.exec(statement.limit(1)).first() is not None
