"""Rows written as one JSON value (PostgreSQL's batch path) read back as the ORM writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Table, event, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from incidents.domain.timeline import TimelineKind
from incidents.flows.incidents import timeline_row
from incidents.store import bulk, json_rows
from incidents.store.models import AlertRecord, Delivery, Incident, TimelineEntry
from tests.store import stored_incident

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ALERTS: Table = AlertRecord.__table__  # type: ignore[attr-defined]
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=OFFSETS)  # fmt: skip
TEXT = st.text(max_size=40) | st.text(min_size=301, max_size=320)  # over a column's length too
LABELS = st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers(), max_size=3)
EXAMPLE_ROW: dict[str, Any] = {
    "fingerprint": "fp", "group_key": "g", "title": "Disk full", "summary": None,
    "labels": {"team": "sre"}, "annotations": {}, "links": [], "starts_at": AT, "ends_at": None,
}  # fmt: skip
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


def _alert(incident_id: int, values: dict[str, Any], *, source: str = "test") -> AlertRecord:
    """A firing alert of the incident with the given fields."""
    return AlertRecord(incident_id=incident_id, source=source, status="firing", severity="SEV2",
                       first_seen_at=AT, last_seen_at=AT, **values)  # fmt: skip


def _columns(record: AlertRecord) -> dict[str, Any]:
    """Every column but the key and the source (each write has its own: the identity is
    unique)."""
    return {column.key: getattr(record, column.key) for column in ALERTS.columns
            if column.key not in ("id", "source")}  # fmt: skip


def _row(record: AlertRecord) -> dict[str, Any]:
    """What the bulk path hands over: every column but the key."""
    return {**_columns(record), "source": record.source}


def _write_both(engine: Engine, values: dict[str, Any]) -> tuple[AlertRecord, AlertRecord]:
    """Write the same alert through the ORM and through group commit's bulk path."""
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        assert incident.id is not None
        by_orm = _alert(incident.id, values, source=f"orm-{incident.id}")
        session.add(by_orm)
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        bulk.enable(session)
        assert bulk.queue_alert(session, _alert(incident.id, values, source=f"bulk-{incident.id}"))
        session.commit()  # written before commit, in one statement
    with Session(engine) as session:
        rows = session.exec(select(AlertRecord).where(col(AlertRecord.incident_id) == incident.id)
                            .order_by(col(AlertRecord.id))).all()  # fmt: skip
    assert len(rows) == 2
    return rows[0], rows[1]


@SLOW
@given(fingerprint=TEXT, title=TEXT, summary=st.none() | TEXT, labels=LABELS,
       starts_at=AWARE, ends_at=st.none() | AWARE)  # fmt: skip
@example(fingerprint="a\x00b", title="t" * 400, summary=None, labels={"n": 2**70},
         starts_at=AT, ends_at=None)  # NUL, over-long text, a big integer  # fmt: skip
@example(fingerprint="fp", title="Ünïcødé ✓ \\u0000", summary="\\", labels={"k": "\\u0000"},
         starts_at=AT.astimezone(timezone(timedelta(hours=5))), ends_at=AT)  # fmt: skip
@example(fingerprint="lone \ud800", title="x", summary=None, labels={}, starts_at=AT,
         ends_at=None)  # fmt: skip
def test_bulk_alerts_read_back_as_the_orm_writes_them(
    engine, fingerprint, title, summary, labels, starts_at, ends_at
):
    values = {**EXAMPLE_ROW, "fingerprint": fingerprint, "title": title, "summary": summary,
              "labels": labels, "starts_at": starts_at, "ends_at": ends_at}  # fmt: skip
    by_orm, by_bulk = _write_both(engine, values)
    assert _columns(by_bulk) == _columns(by_orm)
    assert len(by_bulk.title) <= 300 and "\x00" not in by_bulk.fingerprint


def test_plain_rows_take_the_json_path_on_postgresql_only(engine, session):
    incident = stored_incident(session, at=AT)
    assert incident.id is not None
    row = _row(_alert(incident.id, EXAMPLE_ROW))
    connection = session.connection()
    written = json_rows.insert(connection, AlertRecord, [row, {**row, "fingerprint": "fp2"}])
    if engine.dialect.name != "postgresql":
        assert written is None
        return
    assert written is not None and written.rowcount == 2
    stored = session.exec(select(func.count()).select_from(AlertRecord)).one()
    assert stored == 2


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"title": "nul \x00 inside"}, "PostgreSQL refuses NUL in text"),
        ({"labels": {"big": 2**70}}, "orjson refuses integers beyond 64 bits"),
        ({"title": "lone \ud800 half"}, "orjson refuses lone surrogates"),
        ({"starts_at": datetime(2026, 11, 25, 9, 0)}, "naive timestamps are refused"),  # noqa: DTZ001
    ],
)
def test_values_only_sqlalchemys_types_handle_go_back_to_them(session, change, why):
    incident = stored_incident(session, at=AT)
    assert incident.id is not None
    row = {**_row(_alert(incident.id, EXAMPLE_ROW)), **change}
    assert json_rows.insert(session.connection(), AlertRecord, [row]) is None, why
    assert session.exec(select(func.count()).select_from(AlertRecord)).one() == 0


def test_a_naive_timestamp_is_still_refused_through_the_bulk_path(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        session.commit()
    assert incident.id is not None
    naive = _alert(incident.id, {**EXAMPLE_ROW, "starts_at": datetime(2026, 11, 25, 9)})  # noqa: DTZ001
    with Session(engine) as session:
        bulk.enable(session)
        bulk.queue_alert(session, naive)
        with pytest.raises(Exception, match="naive datetime"):
            session.commit()


def test_bulk_timeline_and_touches_match_the_orm(engine):
    later = AT + timedelta(minutes=5)
    with Session(engine, expire_on_commit=False) as session:
        first, second = stored_incident(session, at=AT), stored_incident(session, at=AT)
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        for incident, data in ((first, None), (second, {"skew_seconds": 3.5})):
            session.add(incident)
            session.add(TimelineEntry(**_entry(incident, data)))
            incident.updated_at = later
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        bulk.enable(session)
        for incident, data in ((first, None), (second, {"skew_seconds": 3.5})):
            session.add(incident)
            assert bulk.queue_timeline_row(session, _entry(incident, data))
            assert bulk.touch(session, incident, now=later + timedelta(seconds=1))
        session.commit()
    with Session(engine) as session:
        entries = session.exec(select(TimelineEntry).order_by(col(TimelineEntry.id)))
        by_orm, by_bulk = _pairs(list(entries))
        null_data = session.exec(select(func.count()).select_from(TimelineEntry)
                                 .where(col(TimelineEntry.data).is_(None))).one()  # fmt: skip
        touched = session.exec(select(col(Incident.updated_at))).all()
    assert by_bulk == by_orm
    assert null_data == 0  # None is JSON null on both paths, as SQLAlchemy's JSON stores it
    assert touched == [later + timedelta(seconds=1)] * 2


def _entry(incident: Incident, data: dict[str, Any] | None) -> dict[str, Any]:
    """The timeline row a note about the incident makes."""
    return timeline_row(incident, kind=TimelineKind.NOTE, at=AT, now=AT, actor="ana",
                        text="checking the disks", data=data)  # fmt: skip


def _pairs(entries: list[TimelineEntry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the entries written the ORM way and the bulk way, without their keys."""
    rows = [{k: v for k, v in entry.model_dump().items() if k != "id"} for entry in entries]
    return rows[: len(rows) // 2], rows[len(rows) // 2 :]


def test_a_batch_ends_with_one_statement_on_postgresql(engine):
    """Alerts, timeline entries, touched incidents and answers: one round trip on
    PostgreSQL (one per kind on SQLite), and every row lands."""
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        delivery = Delivery(source="test", key="k1", received_at=AT)
        session.add(delivery)
        session.commit()
    assert incident.id is not None and delivery.id is not None
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", _collect(statements))
    with Session(engine, expire_on_commit=False) as session:
        bulk.enable(session)
        session.add(incident)
        bulk.queue_alert(session, _alert(incident.id, EXAMPLE_ROW))
        bulk.queue_timeline_row(session, _entry(incident, None))
        bulk.touch(session, incident, now=AT + timedelta(minutes=1))
        bulk.write_answers(session, [{"id": delivery.id, "result": {"alerts": 1}}])
        statements.clear()  # what the session itself ran before the batch's end
        session.commit()
    writes = [text for text in statements if not text.startswith(("COMMIT", "BEGIN"))]
    assert len(writes) == (1 if engine.dialect.name == "postgresql" else 4), writes
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(AlertRecord)).one() == 1
        assert session.exec(select(func.count()).select_from(TimelineEntry)).one() == 1
        assert session.exec(select(col(Delivery.result))).one() == {"alerts": 1}
        assert session.exec(select(col(Incident.updated_at))).one() == AT + timedelta(minutes=1)


def _collect(statements: list[str]) -> Any:
    """A cursor-execute listener keeping each statement's text."""

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip())

    return listener


PRINTABLE = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
WORDS = st.none() | st.text(PRINTABLE, max_size=20)
JSON_VALUES = st.none() | st.dictionaries(st.text(max_size=6), st.text(max_size=6) | st.integers(
    min_value=-(2**63), max_value=2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans() | st.none(), max_size=3)  # fmt: skip


@SLOW
@given(summary=WORDS, commander=WORDS, slice_=JSON_VALUES, impact=JSON_VALUES,
       resolved_at=st.none() | AWARE, detected_at=AWARE)  # fmt: skip
@example(summary=None, commander=None, slice_=None, impact={}, resolved_at=None,
         detected_at=AT.astimezone(timezone(timedelta(hours=-7, minutes=-30))))  # fmt: skip
def test_a_row_read_as_json_is_the_row_the_orm_loads(
    engine, summary, commander, slice_, impact, resolved_at, detected_at
):
    """The batch start's look-ups read rows as JSON: each must come back as the ORM loads it,
    a tracked row of the session."""
    if engine.dialect.name != "postgresql":
        pytest.skip("rows are read as JSON on PostgreSQL only")
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        for name, value in (("summary", summary), ("commander", commander), ("slice", slice_),
                            ("impact", impact), ("resolved_at", resolved_at),
                            ("detected_at", detected_at)):  # fmt: skip
            setattr(incident, name, value)
        session.commit()
    with Session(engine) as session:
        loaded = session.get(Incident, incident.id)
        assert loaded is not None
        expected = _values(loaded)
    with Session(engine) as session:
        text = (
            session.connection()
            .exec_driver_sql(
                "SELECT row_to_json(i)::text FROM incidents AS i WHERE id = %s", (incident.id,)
            )
            .scalar_one()
        )
        read = json_rows.attach(session, Incident, text)
        got = _values(read)
        assert got == expected
        assert all(value.tzinfo is UTC for value in got.values() if isinstance(value, datetime))
        assert session.get(Incident, incident.id) is read, "a row of the session's identity map"
        read.commander = "changed"
        session.commit()  # a change to a row read this way is written like any other
    with Session(engine) as session:
        assert session.get(Incident, incident.id).commander == "changed"  # type: ignore[union-attr]


def _values(incident: Incident) -> dict[str, Any]:
    """Every column's value of an incident."""
    table: Table = Incident.__table__  # type: ignore[attr-defined]
    return {column.key: getattr(incident, column.key) for column in table.columns}


@given(keys=st.lists(st.text(alphabet=st.characters(codec="ascii", exclude_characters="\x00")),
                     max_size=6))  # fmt: skip
@example(keys=['a"b', "c\\d", "x,y", "{z}", " spaced ", "NULL", "", "tab\there"])
@SLOW
def test_a_text_array_literal_reads_back_as_its_keys(engine, keys):
    """The keys a batch looks up go as one array literal: whatever an ASCII key holds (quotes,
    backslashes, commas, braces, blanks, the word NULL) comes back as itself."""
    if engine.dialect.name != "postgresql":
        pytest.skip("array literals are PostgreSQL's")
    with engine.connect() as connection:
        read = json_rows.fetch(connection, "SELECT %s::text[]", (json_rows.text_array(keys),))
    assert read == [(keys,)]


def test_a_statement_run_on_the_drivers_cursor_fails_as_sqlalchemy_would(engine):
    """Listeners see the statement; a refused one raises SQLAlchemy's wrapped error, whose
    SQLSTATE group commit reads to tell a lost race (and the transaction can roll back)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("statements go to the driver's cursor on PostgreSQL only")
    seen: list[str] = []
    listener = _collect(seen)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with engine.connect() as connection:
            insert = "INSERT INTO deliveries (source, key, received_at) VALUES (%s, %s, %s)"
            assert json_rows.fetch(connection, insert, ("test", "k", AT)) == []
            with pytest.raises(IntegrityError) as refused:
                json_rows.fetch(connection, insert, ("test", "k", AT))
            connection.rollback()
            assert connection.exec_driver_sql("SELECT count(*) FROM deliveries").scalar() == 0
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert getattr(refused.value.orig, "sqlstate", None) == "23505"
    assert seen.count(insert) == 2
