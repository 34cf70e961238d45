"""The group-commit writer takes again the incidents its last batches wrote, while their rows
are still those versions, and reads every other one from its row (store/written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import Session

from incidents.store import bulk, written
from incidents.store import intake as intake_store
from incidents.store.models import Incident
from incidents.store.written import WrittenIncidents
from tests.store import stored_incident

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SOURCE = "alertmanager"


@pytest.fixture(autouse=True)
def _postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("incidents are read as JSON rows, and kept, on PostgreSQL only")


def _seed(engine: Engine, *groups: str) -> list[int]:
    """Open incidents of `groups`; their ids."""
    with Session(engine, expire_on_commit=False) as session:
        incidents = []
        for group in groups:
            incident = stored_incident(session, at=AT)
            incident.source, incident.group_key = SOURCE, group
            incidents.append(incident)
        session.commit()
    return [incident.id for incident in incidents if incident.id is not None]


def _batch(
    engine: Engine, kept: WrittenIncidents, *groups: str, minute: int, change: Any = None,
    slot: int | None = None, shared: bool = False,
) -> list[Incident]:  # fmt: skip
    """One batch as group commit runs it: start, touch each group's incident (and `change`
    it), commit, keep what it wrote. Returns the incidents as the batch had them."""
    now = AT + timedelta(minutes=minute)
    with Session(engine, expire_on_commit=False) as session:
        bulk.enable(session, slot=slot)
        with session.no_autoflush:
            keys = [(SOURCE, f"key-{minute}-{group}", timedelta(hours=24)) for group in groups]
            intake_store.start_batch(
                session, keys, now=now, groups={(SOURCE, group) for group in groups},
                fingerprints={(SOURCE, f"fp-{minute}")}, reopen_since=now - timedelta(hours=1),
                written=kept, shared=shared,
            )  # fmt: skip
            found = [intake_store.find_open_incident(session, source=SOURCE, group_key=group)
                     for group in groups]  # fmt: skip
            incidents = [incident for incident in found if incident is not None]
            for incident in incidents:
                bulk.touch(session, incident, now=now)
                if change is not None:
                    change(incident)
        session.commit()
    kept.keep(session)
    return incidents


def _as_stored(engine: Engine, incident_id: int) -> dict[str, Any]:
    """Every column of the incident as its row holds it now."""
    with Session(engine) as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return _columns(row)


def _columns(incident: Incident) -> dict[str, Any]:
    return {attr.key: getattr(incident, attr.key) for attr in inspect(Incident).column_attrs}


def test_a_batch_takes_the_instance_the_last_batch_wrote(engine):
    (incident_id,) = _seed(engine, "g1")
    kept = WrittenIncidents()
    (first,) = _batch(engine, kept, "g1", minute=1)
    (second,) = _batch(engine, kept, "g1", minute=2)
    assert second is first, "the row was still the version the first batch wrote"
    assert second.updated_at == AT + timedelta(minutes=2)
    assert _columns(second) == _as_stored(engine, incident_id)


def test_an_incident_changed_by_anyone_else_is_read_from_its_row(engine):
    (incident_id,) = _seed(engine, "g1")
    kept = WrittenIncidents()
    (first,) = _batch(engine, kept, "g1", minute=1)
    with Session(engine) as other:
        row = other.get(Incident, incident_id)
        assert row is not None
        row.title = "Renamed by a person"
        other.commit()
    (second,) = _batch(engine, kept, "g1", minute=2)
    assert second is not first
    assert second.title == "Renamed by a person"
    assert _columns(second) == _as_stored(engine, incident_id)


def test_an_incident_the_unit_of_work_wrote_is_read_from_its_row(engine):
    """A value the unit of work wrote may be stored in another form than it has in memory."""
    (incident_id,) = _seed(engine, "g1")
    kept = WrittenIncidents()

    def escalate(incident: Incident) -> None:
        incident.severity = "SEV1"

    (first,) = _batch(engine, kept, "g1", minute=1, change=escalate)
    assert len(kept) == 0
    (second,) = _batch(engine, kept, "g1", minute=2)
    assert second is not first
    assert second.severity == "SEV1"
    assert _columns(second) == _as_stored(engine, incident_id)


def test_an_entry_too_old_to_compare_is_read_again(engine, monkeypatch):
    """Row versions carry 32 bits of the writer's id: beyond 2^31 transactions an equal
    version proves nothing, and the incident is read (it is locked already)."""
    (incident_id,) = _seed(engine, "g1")
    kept = WrittenIncidents()
    (first,) = _batch(engine, kept, "g1", minute=1)
    monkeypatch.setattr(written, "_HORIZON", 0)  # every entry is too old
    (second,) = _batch(engine, kept, "g1", minute=2)
    assert second is not first
    assert _columns(second) == _as_stored(engine, incident_id)


def test_the_most_recent_incidents_are_kept(engine, monkeypatch):
    ids = _seed(engine, "g1", "g2", "g3")
    monkeypatch.setattr(WrittenIncidents, "LIMIT", 2)
    kept = WrittenIncidents()
    _batch(engine, kept, "g1", "g2", "g3", minute=1)
    assert len(kept) == 2
    held = kept.versions().strip("{}").split(",")
    assert sorted(int(version.split(":")[0]) for version in held) == sorted(ids[1:])


def test_a_batch_on_another_server_process_reads_every_incident_again(engine):
    """Transaction ids are one server's: behind a pooler the writer may be handed another
    server process, or another server after a failover, where an id may come again."""
    (incident_id,) = _seed(engine, "g1")
    kept = WrittenIncidents()
    (first,) = _batch(engine, kept, "g1", minute=1)
    with engine.connect() as busy:  # the first batch's connection: the next batch gets another
        busy.exec_driver_sql("SELECT 1")
        (second,) = _batch(engine, kept, "g1", minute=2)
    assert second is not first
    assert _columns(second) == _as_stored(engine, incident_id)


@pytest.mark.parametrize("shared", [False, True])
def test_a_batch_that_left_its_incident_unwritten_keeps_the_version_it_read(engine, shared):
    """With a writer slot the touches go to incident_touches: the row is the version the
    batch read, and the next batch takes the instance (under shared locks too)."""
    (incident_id,) = _seed(engine, "g1")
    kept = WrittenIncidents()
    (first,) = _batch(engine, kept, "g1", minute=1, slot=0, shared=shared)
    (second,) = _batch(engine, kept, "g1", minute=2, slot=0, shared=shared)
    assert second is first, "nobody wrote the row since the first batch read it"
    assert second.updated_at == AT, "the row's own updated_at did not move"
    assert _columns(second) == _as_stored(engine, incident_id)
    with Session(engine) as other:
        row = other.get(Incident, incident_id)
        assert row is not None
        row.title = "Renamed by a person"
        other.commit()
    (third,) = _batch(engine, kept, "g1", minute=3, slot=0, shared=shared)
    assert third is not first and third.title == "Renamed by a person"
    assert _columns(third) == _as_stored(engine, incident_id)
