"""Repeats of stored alerts counted by a group-commit writer: increments written with the
batch (store/bulk.count_repeat), so a count read before another writer's never wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from incidents.store import bulk
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
