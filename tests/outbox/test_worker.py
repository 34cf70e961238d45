"""The outbox: queued in the change's transaction, delivered with retries and leases,
dead-lettered visibly, and exactly once at the peer even when a worker dies mid-delivery."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.domain.severity import Severity
from incidents.errors import DeliveryFailed
from incidents.flows.incidents import Declaration, declare
from incidents.outbox.policy import retry_delay
from incidents.outbox.worker import Delivery, Worker
from incidents.store import outbox as store
from incidents.store.models import OutboxMessage, TimelineEntry
from tests.fakes import FrozenClock

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FakePeer:
    """A peer that records what it received, keyed like Slack messages carry metadata."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.failures: list[DeliveryFailed] = []

    def handler(self, delivery: Delivery) -> dict[str, str]:
        if delivery.redelivery and self.received[delivery.key]:
            return {"ts": "already-there"}  # checked first: the earlier attempt landed
        if self.failures:
            raise self.failures.pop(0)
        self.received[delivery.key] += 1
        return {"ts": f"ts-{delivery.key}"}


@pytest.fixture
def settings(database_url):
    return Settings(database_url=database_url, outbox_max_attempts=3, outbox_base_delay=2,
                    outbox_max_delay=60, outbox_lease=timedelta(seconds=30))  # fmt: skip


@pytest.fixture
def clock():
    return FrozenClock(T0)


@pytest.fixture
def peer():
    return FakePeer()


def worker(engine, settings, clock, peer, name="w1"):
    return Worker(engine, handlers={"slack.post": peer.handler}, settings=settings, clock=clock,
                  name=name, rng=random.Random(1))  # fmt: skip


def enqueue(engine, clock, key="m1", topic="slack.post", incident_id=None):
    with Session(engine) as session:
        message = store.add_message(session, topic=topic, key=key, payload={"text": key},
                                    now=clock.now(), incident_id=incident_id)  # fmt: skip
        session.commit()
        return message


def states(engine) -> dict[str, str]:
    with Session(engine) as session:
        return {m.key: m.state for m in session.exec(select(OutboxMessage)).all()}


def test_a_message_is_queued_once_per_key_and_delivered(engine, settings, clock, peer):
    assert enqueue(engine, clock) is not None
    assert enqueue(engine, clock) is None, "the same key queues nothing"
    assert worker(engine, settings, clock, peer).run_once() == 1
    assert peer.received == {"m1": 1}
    with Session(engine) as session:
        (message,) = session.exec(select(OutboxMessage)).all()
        assert message.state == "done" and message.result == {"ts": "ts-m1"}
        assert message.delivered_at == T0 and message.attempts == 1


def test_queued_in_the_callers_transaction_or_not_at_all(engine, clock):
    with Session(engine) as session:
        store.add_message(session, topic="slack.post", key="m1", payload={}, now=clock.now())
        session.rollback()
    assert states(engine) == {}


def test_a_failure_is_retried_after_a_backoff(engine, settings, clock, peer):
    enqueue(engine, clock)
    peer.failures.append(DeliveryFailed("HTTP 500"))
    w = worker(engine, settings, clock, peer)
    w.run_once()
    assert states(engine) == {"m1": "pending"} and not peer.received
    assert w.run_once() == 0, "not due before the backoff"
    clock.advance(seconds=2)
    assert w.run_once() == 1
    assert peer.received == {"m1": 1} and states(engine) == {"m1": "done"}


def test_retry_after_is_honoured(engine, settings, clock, peer):
    enqueue(engine, clock)
    peer.failures.append(DeliveryFailed("ratelimited", retry_after=30))
    w = worker(engine, settings, clock, peer)
    w.run_once()
    with Session(engine) as session:
        (message,) = session.exec(select(OutboxMessage)).all()
        assert message.next_attempt_at == T0 + timedelta(seconds=30)
        assert message.last_error == "ratelimited"
    clock.advance(seconds=29)
    assert w.run_once() == 0
    clock.advance(seconds=1)
    assert w.run_once() == 1 and peer.received == {"m1": 1}


def test_dead_letters_are_visible_on_the_timeline_api_and_metrics(engine, settings, clock, peer):
    with Session(engine, expire_on_commit=False) as session:
        incident = declare(Declaration(title="x", severity=Severity.SEV2), session=session,
                           clock=clock)  # fmt: skip
    enqueue(engine, clock, incident_id=incident.id)
    enqueue(engine, clock, key="m2", topic="nowhere.unknown")
    peer.failures.append(DeliveryFailed("invalid_blocks", permanent=True))
    worker(engine, settings, clock, peer).run_once()
    assert states(engine) == {"m1": "dead", "m2": "dead"}
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(TimelineEntry)).all()]
    assert "delivery_dead" in kinds
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app) as client:
        dead = client.get("/api/outbox", params={"state": "dead"}).json()
        assert {m["key"] for m in dead} == {"m1", "m2"}
        assert "no handler for topic 'nowhere.unknown'" in {m["last_error"] for m in dead}
        assert client.get("/api/outbox", params={"state": "gone"}).status_code == 422
        assert 'incidents_outbox_messages{state="dead"} 2.0' in client.get("/metrics").text


def test_attempts_run_out_into_a_dead_letter(engine, settings, clock, peer):
    enqueue(engine, clock)
    peer.failures.extend(DeliveryFailed("HTTP 503") for _ in range(5))
    w = worker(engine, settings, clock, peer)
    for _ in range(3):
        w.run_once()
        clock.advance(seconds=120)
    assert states(engine) == {"m1": "dead"} and not peer.received


def test_a_worker_dying_mid_delivery_leads_to_exactly_one_delivery(engine, settings, clock, peer):
    enqueue(engine, clock)
    doomed = worker(engine, settings, clock, peer, name="doomed")
    (claimed,) = doomed.claim(limit=10)
    peer.handler(claimed)  # the peer got it; then the worker process died before recording
    survivor = worker(engine, settings, clock, peer, name="survivor")
    assert survivor.run_once() == 0, "the lease still holds"
    clock.advance(seconds=31)
    assert survivor.run_once() == 1
    assert peer.received == {"m1": 1}, "delivered exactly once"
    assert states(engine) == {"m1": "done"}


def test_a_worker_that_stalls_past_its_lease_cannot_overwrite_the_outcome(
    engine, settings, clock, peer: FakePeer
):
    enqueue(engine, clock)
    sent, release = threading.Event(), threading.Event()

    def stalling(delivery: Delivery) -> dict[str, str]:
        result = peer.handler(delivery)
        sent.set()
        release.wait(10)  # a long GC pause or a hung socket, after the peer got it
        return result

    zombie = Worker(engine, handlers={"slack.post": stalling}, settings=settings, clock=clock,
                    name="zombie")  # fmt: skip
    thread = threading.Thread(target=zombie.run_once)
    thread.start()
    assert sent.wait(10)
    clock.advance(seconds=31)
    peer.failures.append(DeliveryFailed("HTTP 500"))  # the survivor's check must not resend
    assert worker(engine, settings, clock, peer, name="survivor").run_once() == 1
    release.set()
    thread.join(10)
    assert peer.received == {"m1": 1}
    with Session(engine) as session:
        (message,) = session.exec(select(OutboxMessage)).all()
        assert message.state == "done" and message.claimed_by == "survivor"


def test_a_worker_dying_before_sending_still_delivers(engine, settings, clock, peer):
    enqueue(engine, clock)
    worker(engine, settings, clock, peer, name="doomed").claim(limit=10)
    clock.advance(seconds=31)
    worker(engine, settings, clock, peer, name="survivor").run_once()
    assert peer.received == {"m1": 1} and states(engine) == {"m1": "done"}


def test_concurrent_workers_never_deliver_a_message_twice(engine, settings, clock, peer: FakePeer):
    for index in range(60):
        enqueue(engine, clock, key=f"m{index:02d}")
    lock = threading.Lock()

    def locked(delivery: Delivery) -> dict[str, str]:
        with lock:
            return peer.handler(delivery)

    workers = [Worker(engine, handlers={"slack.post": locked}, settings=settings, clock=clock,
                      name=f"w{i}") for i in range(3)]  # fmt: skip

    def drain(w: Worker) -> None:
        while w.run_once(limit=5):
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(peer.received.values()) == 60 and set(peer.received.values()) == {1}
    assert set(states(engine).values()) == {"done"}


def test_retry_delay_grows_is_jittered_capped_and_honours_retry_after():
    rng = random.Random(3)
    delays = [retry_delay(n, base=2, cap=60, rng=rng).total_seconds() for n in range(1, 9)]
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4 and 4 <= delays[2] <= 8
    assert max(delays) <= 60
    assert retry_delay(3, base=2, cap=60, retry_after=17).total_seconds() == 17
    assert retry_delay(3, base=2, cap=60, retry_after=9999).total_seconds() == 60
