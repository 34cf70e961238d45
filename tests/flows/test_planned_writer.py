"""The group-commit writer's statements are prepared and planned once on PostgreSQL, every
table reached through an index even when the plan was made while the tables were empty;
the connection goes back to the pool as the pool hands connections out (store/planned)."""

# ruff: noqa: ARG002 (the notifier keeps the port's signature)

from __future__ import annotations

import threading
from contextlib import ExitStack
from datetime import datetime

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from incidents.flows import group_commit
from incidents.flows.group_commit import GroupCommitter
from incidents.flows.ports import NullNotifier
from incidents.store.models import Incident
from tests.flows.test_group_commit import WAIT, delivery


class Inspector(NullNotifier):
    """Looks at the writer's connection from inside each batch: its setting for sequential
    scans, its server process, and the plans of what it prepared."""

    def __init__(self) -> None:
        self.seqscan: list[str] = []
        self.backends: set[int] = set()
        self.plans: dict[str, str] = {}  # prepared statement → its plan's text

    def incident_opened(self, session: Session, incident: Incident, *, now: datetime,
                        declared: bool) -> None:  # fmt: skip
        self._look(session.connection())

    def incident_changed(self, session: Session, incident: Incident, *,
                         now: datetime) -> None:  # fmt: skip
        self._look(session.connection())

    def _look(self, connection: Connection) -> None:
        self.seqscan.append(connection.exec_driver_sql("SHOW enable_seqscan").scalar_one())
        self.backends.add(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        prepared = connection.exec_driver_sql(
            "SELECT name, statement, parameter_types::text[], generic_plans "
            "FROM pg_prepared_statements"
        ).all()
        for name, statement, types, generic in prepared:
            assert generic >= 1 or statement not in self.plans, "planned anew"
            nulls = ", ".join(f"NULL::{kind}" for kind in types)
            explained = connection.exec_driver_sql(f"EXPLAIN EXECUTE {name}({nulls})").all()
            self.plans[statement] = "\n".join(line for (line,) in explained)


@pytest.fixture
def postgres(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite prepares in-process: no server plan to make or keep")
    return engine


def _run(committer: GroupCommitter, inspector: Inspector, count: int) -> None:
    """Apply `count` deliveries to one group, one batch each, then let the writer go idle."""
    for n in range(count):
        assert committer.submit(delivery(n, group="g1"), inspector).result(timeout=WAIT)
    for thread in threading.enumerate():
        if thread.name == "group-commit":
            thread.join(timeout=WAIT)


def test_the_writers_statements_are_planned_once_through_indexes(
    postgres, settings, clock, monkeypatch
):
    """Planned while every table is nearly empty (where a plan made from statistics would
    scan whole tables, and keep doing so as they grow), and still no sequential scan."""
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    inspector = Inspector()
    _run(GroupCommitter(postgres, settings=settings, clock=clock), inspector, 4)
    assert set(inspector.seqscan) == {"off"}
    starts = {statement.split(" AS ")[0] for statement in inspector.plans}
    assert {"WITH c", "WITH w0"} <= starts, "the claims-and-locks and the writes are prepared"
    for statement, plan in inspector.plans.items():
        assert "Index" in plan and "Seq Scan" not in plan, (statement, plan)
    _assert_given_back(postgres, inspector.backends)


def test_without_prepared_statements_the_writer_plans_each_run(postgres, settings, clock,
                                                              monkeypatch):  # fmt: skip
    """For a pooler that cannot keep prepared statements (PgBouncer's transaction mode)."""
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    inspector = Inspector()
    unprepared = settings.model_copy(update={"prepared_statements": False})
    _run(GroupCommitter(postgres, settings=unprepared, clock=clock), inspector, 3)
    assert set(inspector.seqscan) == {"on"}
    assert inspector.plans == {}


def _assert_given_back(engine: Engine, backends: set[int]) -> None:
    """The writer's connection is back in the pool with the server's own settings."""
    assert len(backends) == 1
    with ExitStack() as stack:  # take every pooled connection at once: the writer's is one
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        pooled = pool.checkedin()  # idle connections, the writer's among them
        connections = [stack.enter_context(engine.connect()) for _ in range(max(pooled, 1))]
        pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in connections]
        assert backends <= set(pids), "the writer's connection went back to the pool"
        mine = connections[pids.index(next(iter(backends)))]
        assert mine.exec_driver_sql("SHOW enable_seqscan").scalar_one() == "on"
        assert mine.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"
