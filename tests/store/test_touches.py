"""An incident's ``updated_at`` as readers see it: its own column, or the latest touch a
group-commit writer recorded apart (incident_touches, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from incidents.flows import queries
from incidents.store import bulk
from incidents.store.models import Incident, IncidentTouch
from tests.store import stored_incident

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _touch(engine: Engine, incident_id: int, *, slot: int, minute: int) -> None:
    """One bulking session of writer `slot` moving the incident's updated_at."""
    with Session(engine, expire_on_commit=False) as session:
        bulk.enable(session, slot=slot)
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert bulk.touch(session, incident, now=AT + timedelta(minutes=minute))
        session.commit()


def test_touches_move_updated_at_forward_only_and_leave_the_row_alone(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the group-commit writer records touches apart on PostgreSQL only")
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        session.commit()
    assert incident.id is not None
    _touch(engine, incident.id, slot=0, minute=5)
    _touch(engine, incident.id, slot=0, minute=3)  # a late batch's older time: kept back
    _touch(engine, incident.id, slot=1, minute=4)  # the other worker's own row
    with Session(engine) as session:
        row = session.get(Incident, incident.id)
        assert row is not None and row.updated_at == AT, "the incident row was not updated"
        touches = {t.slot: t.at for t in session.exec(select(IncidentTouch))}
        assert touches == {0: AT + timedelta(minutes=5), 1: AT + timedelta(minutes=4)}
        detail = queries.show_incident(incident.id, session=session)
    assert detail.updated_at == AT + timedelta(minutes=5)


def test_without_touches_updated_at_is_the_incidents_own(engine):
    with Session(engine, expire_on_commit=False) as session:
        incident = stored_incident(session, at=AT)
        session.commit()
        assert incident.id is not None
        assert queries.show_incident(incident.id, session=session).updated_at == AT
