"""The intake's cheap row building (store/rows) and queued timeline entries
(store/incidents): the same rows in the database as the ORM's own way, in the same order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import ForeignKey, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlmodel import Session, col, select

from incidents.domain.timeline import TimelineKind
from incidents.flows.incidents import record_entry, timeline_row
from incidents.store import bulk, rows
from incidents.store.models import AlertRecord, Incident, TimelineEntry
from incidents.store.rows import new_row
from tests.store import stored_incident

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ALERT: dict[str, Any] = {
    "incident_id": 1, "source": "alertmanager", "fingerprint": "fp", "group_key": "g",
    "status": "firing", "severity": "SEV2", "title": "Storm", "starts_at": NOW,
    "first_seen_at": NOW, "last_seen_at": NOW,
}  # fmt: skip


def _incident(session: Session) -> Incident:
    return stored_incident(session, at=NOW)


def test_a_new_row_is_what_the_constructor_builds():
    built = new_row(AlertRecord, ALERT)
    constructed = AlertRecord(**ALERT)
    assert built.model_dump() == constructed.model_dump()
    assert built.seen_count == 1 and built.labels == {} and built.id is None, "defaults"


def test_default_containers_are_not_shared_between_rows():
    first, second = new_row(AlertRecord, ALERT), new_row(AlertRecord, ALERT)
    first.labels["team"] = "payments"
    assert second.labels == {}


@pytest.fixture
def shouting_titles():
    """Give AlertRecord.title a listener that changes what is set (as a validator would)."""

    def shout(_target: AlertRecord, value: str, _old: object, _initiator: object) -> str:
        return value.upper()

    event.listen(AlertRecord.title, "set", shout, retval=True)
    rows._plain.cache_clear()
    yield
    event.remove(AlertRecord.title, "set", shout)
    rows._plain.cache_clear()


def test_listeners_on_attribute_sets_still_run(shouting_titles):
    assert new_row(AlertRecord, ALERT).title == "STORM"


def test_without_listeners_values_go_straight_to_the_row():
    built = new_row(AlertRecord, ALERT)
    assert built.title == "Storm" and built.__dict__["title"] == "Storm"


def test_a_misspelt_field_is_refused():
    with pytest.raises(TypeError, match="fingerprnt"):
        new_row(AlertRecord, {**ALERT, "fingerprnt": "fp"})


def test_a_new_row_is_stored_and_updated_like_any_other(session):
    incident = _incident(session)
    row = new_row(AlertRecord, {**ALERT, "incident_id": incident.id, "labels": {"a": "b"}})
    session.add(row)
    session.flush()
    row.seen_count += 1
    session.commit()
    stored = session.exec(select(AlertRecord)).one()
    assert (stored.id, stored.labels, stored.seen_count) == (row.id, {"a": "b"}, 2)


def _entry(incident: Incident, n: int) -> dict[str, Any]:
    return timeline_row(incident, kind=TimelineKind.NOTE, at=NOW, now=NOW, actor="test",
                        text=f"entry {n}", data={"n": n})  # fmt: skip


def test_queued_entries_keep_their_order_among_flushed_ones(session):
    incident = _incident(session)
    bulk.enable(session)
    assert bulk.queue_timeline_row(session, _entry(incident, 1))
    assert bulk.queue_timeline_row(session, _entry(incident, 2))
    record_entry(
        session,
        incident,
        kind=TimelineKind.NOTE,
        at=NOW,
        now=NOW,
        actor="test",
        text="entry 3",
        data={"n": 3},
    )  # fmt: skip  (an ORM entry, flushed at once)
    assert bulk.queue_timeline_row(session, _entry(incident, 4))
    session.commit()
    entries = session.exec(select(TimelineEntry).order_by(col(TimelineEntry.id))).all()
    assert [(e.text, e.data, e.at) for e in entries] == [
        (f"entry {n}", {"n": n}, NOW) for n in (1, 2, 3, 4)
    ]


def test_queued_entries_are_lost_with_their_transaction(engine):
    with Session(engine) as session:
        incident_id = _incident(session).id
        session.commit()
    with Session(engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        bulk.enable(session)
        bulk.queue_timeline_row(session, _entry(incident, 1))
        session.rollback()
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(TimelineEntry)).all() == []


def test_a_session_that_does_not_queue_says_so(session):
    incident = _incident(session)
    assert not bulk.queue_timeline_row(session, _entry(incident, 1))
    session.commit()
    assert session.exec(select(TimelineEntry)).all() == []


def test_queued_times_come_back_as_aware_utc(session):
    incident = _incident(session)
    bulk.enable(session)
    later = NOW + timedelta(seconds=7)
    bulk.queue_timeline_row(session, {**_entry(incident, 1), "at": later})
    session.commit()
    assert session.exec(select(TimelineEntry.at)).one() == later


def test_a_touched_incident_is_written_by_the_batch_update_not_the_unit_of_work(session):
    incident = _incident(session)
    session.commit()
    bulk.enable(session)
    later = NOW + timedelta(minutes=5)
    assert bulk.touch(session, incident, now=later)
    assert incident.updated_at == later
    assert incident not in session.dirty, "nothing else changed: no ORM update"
    incident.status = "acknowledged"  # another change still goes through the ORM
    session.commit()
    session.expire_all()
    stored = session.get(Incident, incident.id)
    assert stored is not None and (stored.updated_at, stored.status) == (later, "acknowledged")


def test_a_touch_is_lost_with_its_transaction(session):
    incident = _incident(session)
    session.commit()
    bulk.enable(session)
    session.connection()  # the transaction the touch belongs to (a batch has always begun)
    bulk.touch(session, incident, now=NOW + timedelta(minutes=5))
    session.rollback()
    session.commit()
    session.expire_all()
    stored = session.get(Incident, incident.id)
    assert stored is not None and stored.updated_at == NOW


def test_a_persisted_row_is_tracked_as_an_added_one(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = _incident(session)
        session.commit()
        session.expunge(incident)  # detached, as the writer holds it between batches
    with Session(engine, expire_on_commit=False) as session:
        rows.persist(session, incident)
        assert incident in session and not session.dirty, "persistent and unchanged"
        incident.title = "renamed"
        assert list(session.dirty) == [incident]
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(Incident.title)).one() == "renamed"


class _Base(DeclarativeBase):
    """A registry of its own: a model with a relationship, which the intake's have not."""


class _Parent(_Base):
    __tablename__ = "parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list[_Child]] = relationship()


class _Child(_Base):
    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"))


def test_a_row_with_relationships_takes_its_related_rows_along():
    engine = create_engine("sqlite://")
    _Base.metadata.create_all(engine)
    child = _Child(id=2)
    parent = _Parent(id=1, children=[child])
    with Session(engine) as session:
        rows.persist(session, parent)  # type: ignore[arg-type]  # any mapped row
        assert child in session, "cascaded as Session.add does"
        session.commit()
        assert session.scalars(select(_Child.parent_id)).all() == [1]
    engine.dispose()
