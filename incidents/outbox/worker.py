"""The outbox worker: lease due messages, deliver them through handlers, record the outcome.

Several workers (threads or processes) may run against one database: claims use
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and SQLite's single writer otherwise, and
every claim is a lease. A worker that dies mid-delivery loses its lease; the message is
claimed again with ``Delivery.redelivery`` set, so its handler can check whether the first
attempt reached the peer before repeating it (what makes delivery exactly-once at the peer).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.timeline import TimelineKind
from incidents.errors import DeliveryFailed
from incidents.flows.ports import Clock
from incidents.outbox.policy import retry_delay
from incidents.store import outbox as store
from incidents.store.models import OutboxMessage, TimelineEntry
from incidents.store.outbox import OutboxState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a handler gets: the message, and whether an earlier attempt may have landed.

    ``redelivery`` is set when the previous attempt's outcome was never recorded (its worker
    died holding the lease): the peer may have received it, so the handler checks first.
    """

    id: int
    key: str
    topic: str
    payload: dict[str, Any]
    attempt: int
    redelivery: bool
    incident_id: int | None


Handler = Callable[[Delivery], dict[str, Any] | None]
# Runs in the transaction that marks a delivery done: record its result, queue follow-ups.
AfterHook = Callable[[Session, Delivery, dict[str, Any] | None], None]
# Periodic work that queues messages (e.g. update reminders); it runs in the worker's
# transaction, so what it queues is committed or not at all, and keys keep it idempotent
# when several workers tick at once.
Tick = Callable[[Session, datetime], None]
TICK_EVERY = timedelta(seconds=30)


class Worker:
    """Deliver outbox messages with retries, backoff, leases and dead letters."""

    def __init__(
        self,
        engine: Engine,
        *,
        handlers: Mapping[str, Handler],
        settings: Settings,
        after: Mapping[str, AfterHook] | None = None,
        ticks: Sequence[Tick] = (),
        clock: Clock,
        name: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.after = dict(after or {})
        self.ticks = tuple(ticks)
        self.last_tick: datetime | None = None
        self.settings = settings
        self.clock = clock
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.rng = rng or random.Random()

    def run_once(self, *, limit: int = 20) -> int:
        """Claim and deliver what is due now; return how many messages were handled."""
        self.tick()
        deliveries = self.claim(limit=limit)
        for delivery in deliveries:
            self.deliver(delivery)
        return len(deliveries)

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, sleeping a poll interval whenever nothing is due."""
        while not stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # noqa: BLE001 — a worker must outlive one bad round
                log.exception("outbox round failed; retrying after the poll interval")
                handled = 0
            if not handled:
                stop.wait(self.settings.outbox_poll_interval)

    def tick(self) -> None:
        """Run the periodic work when it is due (every 30 s of the worker's clock)."""
        now = self.clock.now()
        if not self.ticks or (self.last_tick is not None and now - self.last_tick < TICK_EVERY):
            return
        self.last_tick = now
        with Session(self.engine) as session:
            for tick in self.ticks:
                tick(session, now)
            session.commit()

    def claim(self, *, limit: int) -> list[Delivery]:
        """Lease due messages in one short transaction."""
        with Session(self.engine, expire_on_commit=False) as session:
            now = self.clock.now()
            messages = store.claim(
                session, worker=self.name, now=now, lease=self.settings.outbox_lease, limit=limit
            )
            deliveries = [_delivery(message, in_doubt) for message, in_doubt in messages]
            session.commit()
        return deliveries

    def deliver(self, delivery: Delivery) -> None:
        """Run the handler and record success, a retry or a dead letter."""
        handler = self.handlers.get(delivery.topic)
        try:
            if handler is None:
                raise DeliveryFailed(f"no handler for topic {delivery.topic!r}", permanent=True)
            result = handler(delivery)
        except DeliveryFailed as failure:
            self._failed(delivery, failure)
        except Exception as exc:  # noqa: BLE001 — an unknown error is retried, never lost
            self._failed(delivery, DeliveryFailed(f"{type(exc).__name__}: {exc}"))
        else:
            self._done(delivery, result)

    def _done(self, delivery: Delivery, result: dict[str, Any] | None) -> None:
        """Mark a message delivered (unless another worker has taken it over)."""
        with Session(self.engine) as session:
            message = self._owned(session, delivery)
            if message is None:
                return
            now = self.clock.now()
            message.state = OutboxState.DONE.value
            message.result = result
            message.delivered_at = now
            message.lease_until = None
            message.last_error = None
            message.updated_at = now
            hook = self.after.get(delivery.topic)
            if hook is not None:
                hook(session, delivery, result)
            session.commit()

    def _failed(self, delivery: Delivery, failure: DeliveryFailed) -> None:
        """Schedule a retry, or dead-letter after the last attempt or a permanent failure."""
        with Session(self.engine) as session:
            message = self._owned(session, delivery)
            if message is None:
                return
            now = self.clock.now()
            message.last_error = failure.message[:2000]
            message.lease_until = None
            message.updated_at = now
            if failure.permanent or message.attempts >= self.settings.outbox_max_attempts:
                message.state = OutboxState.DEAD.value
                _note_dead(session, message, now=now)
            else:
                message.state = OutboxState.PENDING.value
                message.next_attempt_at = now + retry_delay(
                    message.attempts,
                    base=self.settings.outbox_base_delay,
                    cap=self.settings.outbox_max_delay,
                    retry_after=failure.retry_after,
                    rng=self.rng,
                )
            session.commit()

    def _owned(self, session: Session, delivery: Delivery) -> OutboxMessage | None:
        """Return the message if this worker still holds its lease."""
        message = session.get(OutboxMessage, delivery.id, with_for_update=True)
        if message is None or message.claimed_by != self.name:
            return None
        if message.state != OutboxState.DELIVERING.value or message.attempts != delivery.attempt:
            return None
        return message


def _delivery(message: OutboxMessage, in_doubt: bool) -> Delivery:
    """Describe a claimed message to its handler."""
    assert message.id is not None
    return Delivery(
        id=message.id,
        key=message.key,
        topic=message.topic,
        payload=dict(message.payload),
        attempt=message.attempts,
        redelivery=in_doubt,
        incident_id=message.incident_id,
    )


def _note_dead(session: Session, message: OutboxMessage, *, now: Any) -> None:
    """Put a dead letter on its incident's timeline, so responders see what never arrived."""
    if message.incident_id is None:
        return
    session.add(
        TimelineEntry(
            incident_id=message.incident_id,
            at=now,
            recorded_at=now,
            kind=TimelineKind.DELIVERY_DEAD.value,
            actor="outbox",
            text=f"{message.topic} was not delivered after {message.attempts} attempts: "
            f"{message.last_error}",
            data={"outbox_id": message.id, "key": message.key},
        )
    )
