"""Storage guarantees: aware-UTC timestamps on every backend, one open incident per group,
and an append-only timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, col, select

from incidents.store import intake as intake_store
from incidents.store.models import RESOLVED_GROUP_INDEX, Incident, TimelineEntry

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def make_incident(**fields) -> Incident:
    values: dict[str, Any] = {
        "title": "t",
        "status": "triggered",
        "severity": "SEV3",
        "impact_started_source": "defaulted",
        "impact_started_at": T0,
        "detected_at": T0,
        "reported_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Incident(**values)


def test_timestamps_come_back_aware_utc_whatever_zone_went_in(engine):
    berlin = timezone(timedelta(hours=1))
    with Session(engine) as session:
        incident = make_incident(
            detected_at=datetime(2026, 11, 25, 10, 30, 15, 123456, tzinfo=berlin)
        )
        session.add(incident)
        session.commit()
        incident_id = incident.id
    with Session(engine) as session:
        stored = session.get(Incident, incident_id)
        assert stored is not None
        assert stored.detected_at == datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC)
        assert stored.detected_at.tzinfo is UTC
        assert stored.acknowledged_at is None


def test_naive_timestamps_are_refused(engine):
    with Session(engine) as session:
        session.add(make_incident(detected_at=datetime(2026, 11, 25, 9, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_only_one_open_incident_per_source_and_group(engine):
    with Session(engine) as session:
        session.add(make_incident(source="alertmanager", group_key="g1"))
        session.commit()
        session.add(make_incident(source="alertmanager", group_key="g1"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()


def test_a_resolved_incident_frees_its_group(engine):
    with Session(engine) as session:
        session.add(make_incident(source="alertmanager", group_key="g1", status="resolved"))
        session.add(make_incident(source="alertmanager", group_key="g1"))
        session.add(make_incident(source="grafana", group_key="g1"))
        session.add(make_incident(group_key=None))
        session.add(make_incident(group_key=None))
        session.commit()


def test_timeline_entries_cannot_be_changed_or_deleted(engine):
    with Session(engine) as session:
        incident = make_incident()
        session.add(incident)
        session.flush()
        assert incident.id is not None
        entry = TimelineEntry(incident_id=incident.id, at=T0, recorded_at=T0, kind="note", text="a")
        session.add(entry)
        session.commit()
        entry.text = "rewritten"
        with pytest.raises(PermissionError, match="append-only"):
            session.commit()
        session.rollback()
        session.delete(entry)
        with pytest.raises(PermissionError, match="append-only"):
            session.commit()


def test_nul_characters_and_overlong_text_never_reach_the_database_raw(engine):
    with Session(engine) as session:
        incident = make_incident(title="a\x00b" + "x" * 400, commander="c" * 999, summary="s\x00")
        session.add(incident)
        session.commit()
        incident_id = incident.id
    with Session(engine) as session:
        stored = session.get(Incident, incident_id)
        assert stored is not None
        assert stored.title == ("a\ufffdb" + "x" * 400)[:300]
        assert stored.commander == "c" * 200
        assert stored.summary == "s\ufffd"


def test_repeated_statements_are_planned_afresh_not_prepared_on_postgresql(engine):
    """A prepared statement's generic plan, made while a table was small, outlived the
    table's growth (incidents/store/db.build_engine): nothing is prepared on the server."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite prepares in-process; there is no server plan to go stale")
    with Session(engine) as session:
        for _ in range(12):  # psycopg's default would prepare from the fifth execution
            session.exec(select(Incident).where(col(Incident.group_key) == "g")).all()
        prepared = session.connection().execute(text("select count(*) from pg_prepared_statements"))
    assert prepared.scalar_one() == 0


def test_the_reopen_look_up_of_a_new_group_is_an_index_probe(engine):
    """Each new group of a storm asks for the group's recently resolved incident: without an
    index for it, every one scanned the whole incidents table (36 ms at 200,000)."""
    captured: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        captured.append((statement, parameters))

    with Session(engine) as session:
        event.listen(engine, "before_cursor_execute", keep)
        try:
            found = intake_store.find_reopenable(session, source="alertmanager",
                                                 group_key="new", since=T0)  # fmt: skip
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        assert found is None
        statement, parameters = captured[-1]
        connection = session.connection()
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a small table
            rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        plan = [str(row[-1]) for row in rows]
        assert any(RESOLVED_GROUP_INDEX in line for line in plan)
