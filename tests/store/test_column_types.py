"""The column types' fast paths write exactly what the general way writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from incidents.domain.timeline import TimelineKind
from incidents.flows.incidents import record_entry
from incidents.store.db import _SURROGATE, NUL_REPLACEMENT, SafeString, UTCDateTime, dumps
from incidents.store.models import Incident, TimelineEntry
from tests.store import stored_incident

SQLITE = sqlite.dialect()
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
AWARE = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=OFFSETS)  # fmt: skip


def _two_step(value: datetime) -> str:
    """What SQLAlchemy writes for the type's own conversion followed by SQLite's DATETIME."""
    converted = UTCDateTime().process_bind_param(value, SQLITE)
    process = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    return str(process(converted))


@given(AWARE)
@example(datetime(2026, 11, 25, 9, 0, 0, 1, tzinfo=UTC))
@example(datetime(1, 1, 1, 0, 0, tzinfo=UTC))
def test_sqlite_timestamps_are_written_as_the_two_step_way_writes_them(value):
    process = UTCDateTime().bind_processor(SQLITE)
    assert process is not None
    assert process(value) == _two_step(value)


@given(AWARE)
def test_sqlite_timestamps_read_back_as_sqlalchemys_own_parse_reads_them(value):
    stored = _two_step(value)
    parse = DateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert parse is not None
    read = UTCDateTime().result_processor(SQLITE, None)
    assert read is not None
    parsed = parse(stored)
    assert parsed is not None and read(stored) == parsed.replace(tzinfo=UTC) == value
    assert read(stored).tzinfo is UTC and read(None) is None


def test_sqlite_text_with_an_offset_reads_as_the_same_instant():
    read = UTCDateTime().result_processor(SQLITE, None)
    assert read is not None
    assert read("2026-11-25 14:00:00+05:00") == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert read("2026-11-25 09:00:00") == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_a_naive_timestamp_is_still_refused_on_sqlite():
    process = UTCDateTime().bind_processor(SQLITE)
    assert process is not None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 11, 25, 9, 0))
    assert process(None) is None


def test_timestamps_read_back_as_the_same_instant_in_utc(session):
    start = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5)))
    incident = stored_incident(session, at=start)
    session.commit()
    session.expire_all()
    stored = session.get(Incident, incident.id)
    assert stored is not None
    assert stored.detected_at == start and stored.detected_at.tzinfo == UTC


def _general(value: str, length: int | None) -> str:
    cleaned = _SURROGATE.sub(NUL_REPLACEMENT, value.replace("\x00", NUL_REPLACEMENT))
    return cleaned[:length] if length else cleaned


TEXT = st.text(alphabet=st.characters() | st.characters(categories=["Cs"]) | st.just("\x00"))


@given(TEXT, st.sampled_from([None, 3, 200]))
def test_safe_strings_clean_every_text_as_the_general_way_does(value, length):
    column = SafeString(length) if length else SafeString()
    assert column.process_bind_param(value, SQLITE) == (_general(value, length) if value else value)


SCALARS = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner,
                                                                         max_size=4),
)  # fmt: skip


@given(JSON_VALUES)
@example({"big": 2**70, "nested": [{"x": -(2**64)}]})  # beyond orjson: the standard library
@example({"text": "Zürich \u2603 \U0001f525"})
def test_json_columns_encode_to_what_the_standard_library_reads_back(value):
    assert json.loads(dumps(value)) == value


def test_json_values_orjson_refuses_are_stored_and_read_back(session):
    incident = stored_incident(session, at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    data = {"count": 2**70, "where": "Zürich", "labels": {"team": "payments"}}
    record_entry(session, incident, kind=TimelineKind.NOTE, at=incident.detected_at,
                 now=incident.detected_at, actor="test", text="big", data=data)  # fmt: skip
    session.commit()
    session.expire_all()
    stored = session.get(TimelineEntry, 1)
    assert stored is not None and stored.data == data
