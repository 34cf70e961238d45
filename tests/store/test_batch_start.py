"""A group-commit batch's start: its claims, its open incidents (locked) and its alerts'
stored rows, in few statements, the same on every path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from incidents.store import intake as intake_store
from incidents.store.intake import Claim
from incidents.store.models import AlertRecord, Delivery, Incident
from tests.store import stored_incident

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MEMORY = timedelta(hours=24)
SOURCE = "alertmanager"


def _seed(engine: Engine, group: str, fingerprint: str) -> tuple[int, int, int]:
    """An open incident of `group` with one alert, a delivery already answered, and an
    incident of g2 auto-resolved at AT."""
    with Session(engine, expire_on_commit=False) as session:
        resolved = stored_incident(session, at=AT)
        resolved.source, resolved.group_key, resolved.status = SOURCE, "g2", "resolved"
        resolved.resolved_at, resolved.resolved_by = AT, intake_store.AUTO_ACTOR
        incident = stored_incident(session, at=AT)
        incident.source, incident.group_key = SOURCE, group
        session.flush()
        assert incident.id is not None
        session.add(AlertRecord(incident_id=incident.id, source=SOURCE, fingerprint=fingerprint,
                                group_key=group, status="firing", severity="SEV2", title="t",
                                starts_at=AT, first_seen_at=AT, last_seen_at=AT))  # fmt: skip
        seen = Delivery(source=SOURCE, key="seen", received_at=AT, result={"alerts": 1})
        session.add(seen)
        session.commit()
    assert seen.id is not None and resolved.id is not None
    return incident.id, seen.id, resolved.id


@pytest.mark.parametrize(
    ("group", "fingerprint"),
    [("g1", "a"), ("grüppe ✓", "a"), ("g1", "ä ✓")],  # the last two: the ORM's path
)
def test_a_batch_start_claims_locks_and_reads_ahead(engine, group, fingerprint):
    incident_id, seen_id, resolved_id = _seed(engine, group, fingerprint)
    statements: list[str] = []
    listener = _collector(statements)
    with Session(engine) as session:
        event.listen(engine, "before_cursor_execute", listener)
        try:
            keys = [(SOURCE, "new", MEMORY), (SOURCE, "seen", MEMORY), (SOURCE, "new", MEMORY)]
            claims = intake_store.start_batch(
                session, keys,
                now=AT + timedelta(minutes=1), groups={(SOURCE, group), (SOURCE, "g2")},
                fingerprints={(SOURCE, fingerprint), (SOURCE, "b")},
                reopen_since=AT - timedelta(minutes=10),
            )  # fmt: skip
            started = len(statements)
            found = intake_store.find_open_incident(session, source=SOURCE, group_key=group)
            missing = intake_store.find_open_incident(session, source=SOURCE, group_key="g2")
            flapping = intake_store.find_reopenable(session, source=SOURCE, group_key="g2",
                                                    since=AT - timedelta(minutes=5))  # fmt: skip
            alert = intake_store.find_matching_alert(session, incident_id=incident_id,
                                                     source=SOURCE, fingerprint=fingerprint,
                                                     starts_at=AT)  # fmt: skip
            unknown = intake_store.find_matching_alert(session, incident_id=incident_id,
                                                       source=SOURCE, fingerprint="b",
                                                       starts_at=AT)  # fmt: skip
            asked_after = len(statements) - started
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert claims[0] is not None and not claims[0].seen
        assert claims[1] == Claim(id=seen_id, seen=True, result={"alerts": 1})
        assert claims[2] is None, "a repeat within the batch is answered from its first"
        assert isinstance(found, Incident) and found.id == incident_id
        assert missing is None
        assert isinstance(flapping, Incident) and flapping.id == resolved_id
        assert isinstance(alert, AlertRecord) and alert.fingerprint == fingerprint
        assert unknown is None
        plain = group.isascii() and fingerprint.isascii()
        read_ahead = engine.dialect.name == "sqlite" or plain
        # g2 has no open incident: its open and its reopenable one are asked for, unless the
        # start read both ahead (SQLite always; PostgreSQL unless the keys take the ORM's way)
        assert asked_after == (0 if read_ahead else 2), statements[started:]
        if engine.dialect.name == "postgresql":
            # claims and locks; the seen key's row; the alerts (the ORM's way: one more)
            assert started == (3 if plain else 4), statements
            _assert_locked(engine, incident_id)
            _assert_locked(engine, resolved_id)


def _assert_locked(engine: Engine, incident_id: int) -> None:
    """The incident is locked by the batch: another transaction cannot lock it now."""
    with engine.connect() as other, pytest.raises(OperationalError, match="could not obtain"):
        other.exec_driver_sql(
            "SELECT id FROM incidents WHERE id = %s FOR UPDATE NOWAIT", (incident_id,)
        ).all()


def _collector(statements: list[str]) -> Any:
    """A cursor-execute listener keeping each statement's text."""

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip())

    return listener
