"""Repeats of stored alerts counted by a group-commit writer: increments written with the
batch (store/bulk.count_repeat), so a count read before another writer's never wins."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from incidents.store import bulk, json_rows
from incidents.store import intake as intake_store
from incidents.store.models import AlertRecord
from tests.store import stored_incident

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _stored_alert(engine: Engine) -> int:
    """Store an incident with one alert seen once at AT; return the alert's id."""
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        assert incident.id is not None
        record = AlertRecord(incident_id=incident.id, source="test", fingerprint="fp",
                             group_key="g", status="firing", severity="SEV2", title="t",
                             starts_at=AT, first_seen_at=AT, last_seen_at=AT)  # fmt: skip
        session.add(record)
        session.commit()
    assert record.id is not None
    return record.id


def _count(session: Session, alert_id: int, *minutes: int) -> AlertRecord:
    """Count one repeat at AT + each of `minutes` in a writer's bulking session."""
    record = session.get(AlertRecord, alert_id)
    assert record is not None
    for minute in minutes:
        intake_store.count_repeat(session, record, now=AT + timedelta(minutes=minute))
    return record


def _stored(engine: Engine, alert_id: int) -> tuple[int, datetime]:
    with Session(engine) as session:
        record = session.get(AlertRecord, alert_id)
        assert record is not None
        return record.seen_count, record.last_seen_at


def test_a_writers_repeats_are_added_and_move_last_seen_forward_only(engine):
    alert_id = _stored_alert(engine)
    with Session(engine, expire_on_commit=False) as session:
        bulk.enable(session, slot=0)
        record = _count(session, alert_id, 5, 3)
        assert (record.seen_count, record.last_seen_at) == (3, AT + timedelta(minutes=5))
        assert not session.is_modified(record), "an increment, not a change of the row"
        session.commit()
    assert _stored(engine, alert_id) == (3, AT + timedelta(minutes=5))
    with Session(engine) as session:  # not a writer: the row's values are set
        _count(session, alert_id, 1, 7)
        session.commit()
    assert _stored(engine, alert_id) == (5, AT + timedelta(minutes=7))


def test_a_count_read_before_another_writers_commit_adds_to_it(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    alert_id = _stored_alert(engine)
    with Session(engine) as early, Session(engine) as late:
        bulk.enable(early, slot=0)
        bulk.enable(late, slot=1)
        _count(early, alert_id, 2)  # read seen_count 1 and counted one
        _count(late, alert_id, 4)
        late.commit()
        early.commit()
    assert _stored(engine, alert_id) == (3, AT + timedelta(minutes=4))


def _waiting_for_locks(engine: Engine, count: int) -> None:
    """Wait until `count` sessions of this database wait for a row lock."""
    query = text("select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                 "and datname = current_database()")  # fmt: skip
    deadline = time.monotonic() + 10
    with engine.connect() as connection:
        while connection.execute(query).scalar_one() < count:
            assert time.monotonic() < deadline, f"fewer than {count} sessions wait for a lock"
            time.sleep(0.02)


def test_two_writers_counting_overlapping_alerts_lock_them_in_one_order(engine):
    """One batch counts alerts 1, 150 and 200 and waits for 150, held elsewhere; another
    counts every alert but 150. On a small table the update's scan runs in physical order
    (alert 1, updated once, last): had the second locked 200 before it waited for 1, the
    first would deadlock on 200 once 150 came free."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time")
    ids = _stored_alerts(engine, 300)
    with engine.begin() as connection:
        connection.execute(text("update alerts set seen_count = 1 where id = :id"), {"id": ids[0]})
        connection.execute(text("analyze alerts"))
    held, few, many = ids[149], [ids[0], ids[149], ids[199]], [i for i in ids if i != ids[149]]
    errors: list[BaseException] = []
    with engine.connect() as holder:
        holder.execute(text("select id from alerts where id = :id for update"), {"id": held})
        first = _counting(engine, few, errors)
        _waiting_for_locks(engine, 1)
        second = _counting(engine, many, errors)
        _waiting_for_locks(engine, 2)
        holder.rollback()
    for thread in (first, second):
        thread.join(timeout=20)
    assert not errors
    with engine.connect() as connection:
        counts = dict(connection.execute(text("select id, seen_count from alerts")).all())
    assert counts == {i: 1 + (i in few) + (i in many) for i in ids}


def _stored_alerts(engine: Engine, number: int) -> list[int]:
    """Store an incident with `number` alerts seen once; return their ids in order."""
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        assert incident.id is not None
        records = [AlertRecord(incident_id=incident.id, source="test", fingerprint=f"fp-{n}",
                               group_key="g", status="firing", severity="SEV2", title="t",
                               starts_at=AT, first_seen_at=AT, last_seen_at=AT)
                   for n in range(number)]  # fmt: skip
        session.add_all(records)
        session.commit()
    return sorted(record.id for record in records if record.id is not None)


def _counting(engine: Engine, ids: list[int], errors: list[BaseException]) -> threading.Thread:
    """Start a thread that counts one repeat of each alert as a writer's batch writes it."""

    def count() -> None:
        try:
            with engine.begin() as connection:
                writes = json_rows.Writes(connection)
                rows = [{"id": i, "seen_count": 1, "last_seen_at": AT} for i in ids]
                assert writes.accumulate(AlertRecord, rows, counter="seen_count",
                                         latest="last_seen_at")  # fmt: skip
                writes.run()
        except BaseException as error:  # noqa: BLE001 (the test reports it)
            errors.append(error)

    thread = threading.Thread(target=count)
    thread.start()
    return thread
