"""Engine, sessions and the column type that keeps every timestamp aware UTC.

SQLite stores datetimes without a zone and hands back naive values; PostgreSQL's
``timestamptz`` hands back values in the session's zone. ``UTCDateTime`` refuses naive
input and always returns aware UTC, so code never sees the difference.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, Engine, String, Text, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

_NAIVE_TEXT = len("2026-11-25 09:00:00.000000")  # what SQLite holds: no offset


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime column that only accepts and only returns timezone-aware UTC values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive UTC on SQLite, which has no zones)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: timestamps must be aware")
        as_utc = value.astimezone(UTC)
        return as_utc.replace(tzinfo=None) if dialect.name == "sqlite" else as_utc

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, check and format in one step (the same text SQLAlchemy's DATETIME
        writes, ``YYYY-MM-DD HH:MM:SS.ffffff``): a storm writes four timestamps per alert,
        and the two-step way was a tenth of the group-commit writer's time."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:  # (UTC itself needs no conversion: most values)
                if value.tzinfo is None or value.utcoffset() is None:
                    raise ValueError(f"naive datetime {value!r} refused: timestamps must be aware")
                value = value.astimezone(UTC)
            # The text up to the "+00:00" offset: half the time of replace(tzinfo=None) first.
            return value.isoformat(" ", "microseconds")[:_NAIVE_TEXT]

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        """On SQLite, parse the stored text straight into aware UTC (``fromisoformat`` reads
        what ``bind_processor`` writes; SQLAlchemy's way is a regular expression, then this
        type's own step: a batch reads seven timestamps of every open incident)."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            try:  # stored text has no offset: naming UTC in the text is 4x cheaper than replace()
                return datetime.fromisoformat(value + "+00:00")
            except ValueError:  # text written by hand with an offset of its own
                return datetime.fromisoformat(value).astimezone(UTC)

        return process

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 (signature fixed by TypeDecorator)
    ) -> datetime | None:
        """Return stored values as aware UTC whatever the driver handed back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SafeString(TypeDecorator[str]):
    """A VARCHAR that never sends what PostgreSQL would refuse: NUL characters, or more
    characters than the column holds.

    Senders can put ``\u0000`` in any JSON string and any length in a label; replacing NUL
    with U+FFFD and cutting to the column's length here (for writes and comparisons alike)
    keeps such input from ever becoming a 500. Identity fields are hashed before they get
    here (flows/intake), so the cut only ever shortens display text.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:  # noqa: ARG002
        """Replace NUL characters and cut to the column's length."""
        if not value:
            return value
        if value.isascii() and "\x00" not in value:  # nearly every value: nothing to replace
            cleaned = value
        else:
            cleaned = _SURROGATE.sub(NUL_REPLACEMENT, value.replace("\x00", NUL_REPLACEMENT))
        length = getattr(self.impl, "length", None)
        return cleaned[:length] if length else cleaned


class SafeText(SafeString):
    """A TEXT column with the same NUL protection as ``SafeString``."""

    impl = Text
    cache_ok = True


NUL_REPLACEMENT = "\ufffd"
_WRITER = "incidents_writer_lock"
WRITER_WAIT = 60.0  # seconds a transaction waits for its turn before giving up
_SURROGATE = re.compile("[\ud800-\udfff]")  # unpaired UTF-16 halves cannot be stored


def dumps(value: Any) -> str:
    """Encode a JSON column's value: orjson, with the standard library for what it refuses.

    Why: a storm writes six JSON values per alert (labels, annotations, links, the timeline
    entry, the delivery's answer) and ``json.dumps`` took a tenth of the group-commit
    writer's time; orjson takes a tenth of that. What orjson refuses (integers beyond 64
    bits, for one) still gets the standard encoding. Both read back the same.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def build_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and pool each backend needs.

    On PostgreSQL, psycopg prepares no statements on the server (``prepare_threshold``
    None). Why: a prepared statement's generic plan is chosen once, from the table's size
    when it was made, and kept for the connection's life. Made while the alerts table was
    nearly empty, the intake's look-up by fingerprint stayed a whole-table scan: at a few
    thousand alerts it cost 10 ms of the server's time per batch instead of 0.5 ms, and
    PostgreSQL spent 680 µs of CPU per delivery instead of 170 (measured with group commit's
    writer alone, batches of 32). Unprepared statements are planned with their own values
    each time, and work through PgBouncer's transaction pooling too. The one exception is
    the group-commit writer's connection while the writer holds it: it prepares its batch
    statements, with sequential scans priced out so that trap cannot close (store/planned).
    """
    kwargs.setdefault("json_serializer", dumps)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "psycopg":
            kwargs["connect_args"] = {"prepare_threshold": None, **kwargs.get("connect_args", {})}
        return create_engine(url, pool_pre_ping=True, **kwargs)
    memory = parsed.database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        options["poolclass"] = StaticPool  # one shared connection, or each sees an empty db
    engine = create_engine(url, **options, **kwargs)
    # A plain lock, not an RLock: a transaction may end in another thread than it began
    # (FastAPI runs a dependency's teardown in the thread pool), and only Lock allows that.
    writers = threading.Lock()
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", lambda connection: _begin_immediate(connection, writers))
    event.listen(engine, "commit", _release_writer)
    event.listen(engine, "rollback", _release_writer)
    return engine


def _begin_immediate(connection: Any, writers: threading.Lock) -> None:
    """Take SQLite's write lock at BEGIN, so two writers queue instead of failing.

    A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
    another connection wrote meanwhile (WAL snapshot conflict); IMMEDIATE waits instead.
    Within one process the transactions first queue on a lock, in order and without a time
    limit: SQLite's own busy wait backs off unfairly and gives up after ``busy_timeout``,
    which under an alert storm answered senders 500 "database is locked" (measured with
    ``tests/bench/ingest.py``). The busy timeout still covers other processes (the CLI).
    """
    if not writers.acquire(timeout=WRITER_WAIT):
        raise sqlite3.OperationalError(f"database is locked: no turn to write in {WRITER_WAIT} s")
    connection.info[_WRITER] = writers
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _release_writer(connection)
        raise


def _release_writer(connection: Any) -> None:
    """Let the next transaction of this process begin (at commit or rollback)."""
    writers = connection.info.pop(_WRITER, None)
    if writers is not None:
        writers.release()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on WAL, foreign keys and a busy timeout for every SQLite connection."""
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that is rolled back unless the caller committed it."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
