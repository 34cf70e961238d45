"""While the group-commit writer runs on a SQLite file, its commits leave the WAL's
checkpoints to a thread of their own (store/checkpoints); when it stops, all is as before."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from incidents.config import Settings
from incidents.flows import group_commit
from incidents.flows.group_commit import GroupCommitter
from incidents.flows.ports import NullNotifier
from incidents.store import checkpoints
from incidents.store.db import build_engine
from incidents.store.migrate import upgrade
from incidents.store.models import AlertRecord, Incident
from tests.fakes import FrozenClock
from tests.flows.test_group_commit import delivery

WAIT = 10


def in_the_file(path: Path, table: str) -> int:
    """Rows of `table` in the database file itself, ignoring its WAL (what checkpoints
    have copied there so far)."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        reader.close()


def eventually(check, timeout: float = WAIT) -> bool:
    """Whether `check()` becomes true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint" and t.is_alive()]


@pytest.fixture
def wal_file(tmp_path: Path) -> Path:
    """A WAL database whose table exists in the file and whose writes stay in the log."""
    path = tmp_path / "wal.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    setup.close()
    return path


def test_the_checkpointer_copies_the_log_into_the_file_until_stopped(wal_file: Path):
    writer = sqlite3.connect(wal_file, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(100)])
    assert in_the_file(wal_file, "t") == 0  # in the log only
    checkpointer = checkpoints.Checkpointer(str(wal_file), interval=0.01)
    checkpointer.start()
    try:
        assert eventually(lambda: in_the_file(wal_file, "t") == 100)
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints >= 1
    assert checkpoint_threads() == []
    runs = checkpointer.checkpoints
    writer.execute("INSERT INTO t VALUES (100)")
    time.sleep(0.05)
    assert checkpointer.checkpoints == runs and in_the_file(wal_file, "t") == 100  # stopped
    writer.close()


def test_taking_over_stops_the_connections_own_checkpoints_and_hands_them_back(wal_file: Path):
    connection = sqlite3.connect(wal_file, isolation_level=None)
    connection.execute("PRAGMA wal_autocheckpoint=250")
    taken = checkpoints.take_over(connection)
    assert taken is not None
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    assert len(checkpoint_threads()) == 1
    checkpoints.hand_back(connection, taken)
    assert connection.execute("PRAGMA wal_autocheckpoint").fetchone() == (250,)
    assert checkpoint_threads() == []
    connection.close()


def test_a_database_in_memory_has_nothing_to_take_over():
    connection = sqlite3.connect(":memory:")
    assert checkpoints.take_over(connection) is None
    assert checkpoint_threads() == []


class Watching(NullNotifier):
    """Notes the writer connection's automatic checkpoint setting in each batch."""

    def __init__(self) -> None:
        self.settings: list[int] = []

    def incident_opened(self, session: Session, incident: Incident, *, now: datetime,
                        declared: bool) -> None:  # fmt: skip
        del incident, now, declared  # only the session's connection matters here
        setting = session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        self.settings.append(int(setting or 0))


def test_the_writers_alerts_reach_the_file_while_it_runs_and_its_connection_is_restored(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(checkpoints, "INTERVAL", 0.01)
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.5)
    path = tmp_path / "incidents.db"
    engine = build_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the pool starts empty: the writer's connection is its only one
    settings = Settings(database_url=f"sqlite:///{path}")
    committer = GroupCommitter(engine, settings=settings, clock=FrozenClock())
    notifier = Watching()
    assert committer.submit(delivery(0), notifier).result(timeout=WAIT).alerts == 1
    assert notifier.settings == [0]  # the writer's commits checkpoint nothing themselves
    # A one-alert commit is far below the 1,000 pages of an automatic checkpoint: only the
    # checkpoint thread copies it into the file, while the writer still runs.
    assert eventually(lambda: in_the_file(path, "alerts") == 1, timeout=0.4)
    for thread in threading.enumerate():
        if thread.name == "group-commit":
            thread.join(timeout=WAIT)
    assert checkpoint_threads() == []
    with engine.connect() as connection:  # the writer's connection, back in the pool
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    with Session(engine) as session:
        assert len(session.exec(select(AlertRecord)).all()) == 1
    engine.dispose()


def test_a_failing_checkpoint_is_said_once_and_tried_again_until_stopped(tmp_path: Path, caplog):
    garbage = tmp_path / "not-a-database.db"
    garbage.write_bytes(b"this is not a SQLite file" * 100)
    checkpointer = checkpoints.Checkpointer(str(garbage), interval=0.01)
    with caplog.at_level("WARNING", logger="incidents.store.checkpoints"):
        checkpointer.start()
        time.sleep(0.2)
        assert len(checkpoint_threads()) == 1  # still trying
        checkpointer.stop()
    assert checkpointer.checkpoints == 0
    assert checkpoint_threads() == []
    assert [record.message for record in caplog.records] == [f"checkpointing {garbage} failed"]
