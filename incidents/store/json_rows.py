"""PostgreSQL: a batch's rows of one table written by one statement, the rows as one JSON value.

Why: group commit writes a dozen alerts, timeline entries, incident touches and delivery
answers per batch. Through SQLAlchemy and psycopg each row paid its own parameter
building, type processing and (in psycopg's pipelined ``executemany``) its own execution
in the server: under a storm on two cores that was half of each worker's writer time and
most of PostgreSQL's. Here orjson encodes the rows in one C call (datetimes included,
as RFC 3339) and ``json_to_recordset`` turns them back into typed columns inside the
server, so a batch costs one statement per table whatever its size. The other way,
``attach`` makes a row read as ``row_to_json`` a persistent instance without the ORM's
loading machinery (a batch's start, store/intake.start_batch).

Each write keeps what the columns' own types promise:

- ``SafeString``'s cut to the column's length is an explicit ``::varchar(n)`` cast, which
  cuts by characters the same way;
- NUL characters (``SafeString`` replaces them; PostgreSQL refuses them in text), lone
  surrogates and integers beyond 64 bits (orjson refuses both), and naive datetimes
  (``UTCDateTime`` refuses them) make the write return False: the caller then takes the
  SQLAlchemy path, whose types deal with them as they always did;
- ``None`` in a JSON column is stored as JSON ``null``, as SQLAlchemy's ``JSON`` does.

SQLite keeps the SQLAlchemy path: its driver runs in-process and has no per-statement
round trip to save.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import JSON, Connection, CursorResult, Integer, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel

from incidents.store.db import SafeString, UTCDateTime
from incidents.store.rows import new_row, persist

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_NUL = b"\\u0000"
_OPTIONS = orjson.OPT_NON_STR_KEYS


def encode(rows: Sequence[dict[str, Any]], datetimes: Sequence[str]) -> str | None:
    """Return the rows as one JSON text, or None when they must take the SQLAlchemy path."""
    for row in rows:
        for name in datetimes:
            value: datetime | None = row[name]
            if value is not None and value.utcoffset() is None:
                return None
    try:
        payload = orjson.dumps(rows, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: lone surrogates, integers beyond 64 bits
        return None
    return None if _NUL in payload else payload.decode()


def insert(
    connection: Connection, model: type[SQLModel], rows: Sequence[dict[str, Any]], *,
    columns: tuple[str, ...] | None = None, suffix: str = "",
) -> CursorResult[Any] | None:  # fmt: skip
    """Insert `rows` in one statement and return its result; None if they cannot go this way
    (not PostgreSQL, or values only SQLAlchemy's types deal with).

    Each row holds `columns` by name (default: every column but the key). `suffix` ends the
    statement (``ON CONFLICT …``, ``RETURNING …``).
    """
    if connection.dialect.name != "postgresql":
        return None
    statement, datetimes = insert_statement(model, columns)
    payload = encode(rows, datetimes)
    if payload is None:
        return None
    return connection.exec_driver_sql(f"{statement} {suffix}" if suffix else statement, (payload,))


def text_array(values: Sequence[str]) -> str:
    """A PostgreSQL text array literal of `values` (for a ``%s::text[]`` parameter).

    Why not a list: psycopg dumps a list element by element in Python (3-5% of the
    group-commit writer's time went to a batch's key lists); a string goes as it is. Inside
    double quotes only a backslash and a double quote need escaping. NUL cannot be in a
    text value at all: the caller sends such keys another way. A quoted number reads as an
    integer too (``%s::integer[]``).
    """
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


def fetch(
    connection: Connection, statement: str, params: Sequence[Any], *, prepare: bool = False
) -> list[tuple[Any, ...]]:
    """Run a statement on the driver's cursor and return its rows as tuples (none for a
    statement that returns nothing).

    Why not ``exec_driver_sql``: a textual statement's result is set up anew on every run
    (column metadata, a result processor looked up per column), 50-60 µs of CPU per
    statement, and group commit runs three of them per batch. The statements here return
    plain JSON text and numbers, which need no processing. Listeners of
    ``before_cursor_execute`` still see each statement (the tests count statements that
    way), and a driver error is raised as SQLAlchemy raises it (wrapped, with ``orig``, the
    connection invalidated on a disconnect), so group commit still tells a lost race.
    `prepare` asks for the statement to be prepared on the server where the connection
    prepares what it is asked to (the group-commit writer's: store/planned).
    """
    if not connection.in_transaction():
        connection.begin()  # as executing through the connection would (autobegin)
    connection.dispatch.before_cursor_execute(connection, None, statement, params, None, False)
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(statement, params, prepare=prepare or None)
        # Whether it returned rows, from the result's field count: ``description`` builds a
        # column object with its type looked up for each field, on every statement.
        result = cursor.pgresult
        return cursor.fetchall() if result is not None and result.nfields else []
    except Exception as exc:  # noqa: BLE001 (each is raised again, as SQLAlchemy would)
        connection._handle_dbapi_exception(exc, statement, params, cursor, None)  # noqa: SLF001
    finally:
        cursor.close()


class Writes:
    """Inserts and updates of several tables gathered into one statement (one round trip,
    one parse and plan in the server), each table's rows as one JSON value.

    Group commit ends every batch with four writes (alerts, timeline entries, incidents'
    ``updated_at``, the deliveries' answers); as separate statements their fixed costs, in
    psycopg and in the server, outweighed the rows of a small batch. Data-modifying ``WITH``
    parts all run, against one snapshot: the writes must not depend on each other's rows
    (these do not: each references only incidents that exist before it).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.usable = connection.dialect.name == "postgresql"
        self._parts: list[str] = []
        self._params: list[Any] = []

    def insert(
        self, model: type[SQLModel], rows: Sequence[dict[str, Any]], *, keyed: bool = False,
        suffix: str = "",
    ) -> bool:  # fmt: skip
        """Add an insert of `rows` (every column, the key only if `keyed`; `suffix` ends it,
        ``ON CONFLICT …``); False: write them yourself."""
        if not self.usable:
            return False
        table = _table(model)
        names = tuple(column.key for column in table.columns) if keyed else _unkeyed(table)
        statement, datetimes = _insert_statement(table, names)
        return self._add(f"{statement} {suffix}" if suffix else statement, rows, datetimes)

    def update(
        self, model: type[SQLModel], rows: Sequence[dict[str, Any]], columns: tuple[str, ...]
    ) -> bool:
        """Add an update of `columns` of the rows each row's ``id`` names; False: do it yourself."""
        if not self.usable:
            return False
        return self._by_id(*_update_statement(_table(model), columns), rows)

    def accumulate(
        self, model: type[SQLModel], rows: Sequence[dict[str, Any]], *, counter: str, latest: str
    ) -> bool:
        """Add an update that adds each row's `counter` to the stored one and keeps the later
        of the two `latest` values, for the rows each row's ``id`` names, locked in id
        order; False: do it yourself."""
        if not self.usable:
            return False
        return self._by_id(*_accumulate_statement(_table(model), counter, latest), rows)

    def upsert(
        self, model: type[SQLModel], rows: Sequence[dict[str, Any]], keys: tuple[str, ...],
        latest: str,
    ) -> bool:  # fmt: skip
        """Add an insert of `rows` (every column) that, where a row with the same `keys` is
        stored, keeps the later of the two `latest` values; False: write them yourself."""
        name = _table(model).name
        return self.insert(model, rows, keyed=True,
                           suffix=f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {latest} = "
                                  f"GREATEST({name}.{latest}, EXCLUDED.{latest})")  # fmt: skip

    def run(self) -> None:
        """Send what was added, as one statement (nothing when nothing was)."""
        if not self._parts:
            return
        if len(self._parts) == 1:
            statement = self._parts[0]
        else:
            parts = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(self._parts))
            statement = f"WITH {parts} SELECT 1"
        params = tuple(self._params)
        self._parts.clear()
        self._params.clear()
        fetch(self.connection, statement, params, prepare=True)

    def _by_id(self, statement: str, datetimes: tuple[str, ...],
               rows: Sequence[dict[str, Any]]) -> bool:  # fmt: skip
        """Keep an update of the rows each row's ``id`` names, the keys as one array too."""
        return self._add(statement, rows, datetimes, text_array([str(row["id"]) for row in rows]))

    def _add(self, statement: str, rows: Sequence[dict[str, Any]], datetimes: tuple[str, ...],
             *extra: Any) -> bool:  # fmt: skip
        """Keep one part and its parameters, if its rows can be encoded."""
        payload = encode(rows, datetimes)
        if payload is None:
            return False
        self._parts.append(statement)
        self._params.extend((payload, *extra))
        return True


def _table(model: type[SQLModel]) -> Table:
    """The table a model maps to."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _unkeyed(table: Table) -> tuple[str, ...]:
    """Every column of `table` but its key."""
    return tuple(column.key for column in table.columns if not column.primary_key)


def insert_statement(
    model: type[SQLModel], columns: tuple[str, ...] | None = None
) -> tuple[str, tuple[str, ...]]:
    """The INSERT of `model`'s `columns` (default: all but the key) from one JSON parameter,
    and its datetime columns."""
    table = _table(model)
    return _insert_statement(table, columns or _unkeyed(table))


@cache
def _insert_statement(table: Table, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The INSERT … SELECT FROM json_to_recordset of `names`, and its datetime columns."""
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"SELECT {', '.join(_selected(table, name) for name in names)} "
        f"FROM json_to_recordset(%s::json) AS r({_declared(table, names)})",
        _datetimes(table, names),
    )


@cache
def _update_statement(table: Table, columns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The UPDATE … FROM json_to_recordset setting `columns` by ``id``, and its datetimes."""
    sets = ", ".join(f"{name} = {_selected(table, name)}" for name in columns)
    return (
        f"UPDATE {table.name} AS t SET {sets} "
        f"FROM json_to_recordset(%s::json) AS r({_declared(table, ('id', *columns))}) "
        # The key list (the second parameter) is what makes the plan an index look-up: the
        # recordset's size is unknown to the planner, which joined it to a whole-table scan.
        "WHERE t.id = ANY(%s::integer[]) AND t.id = r.id",
        _datetimes(table, columns),
    )


@cache
def _accumulate_statement(table: Table, counter: str, latest: str) -> tuple[str, tuple[str, ...]]:
    """The UPDATE … FROM json_to_recordset adding to `counter` and moving `latest` forward.

    The rows are locked first, in id order, by a sub-select of their own: the update's join
    may run either way round, and a sequential or bitmap scan returns rows in physical
    order, so two batches counting overlapping alerts could lock them in opposite orders.
    """
    return (
        f"UPDATE {table.name} AS t SET {counter} = t.{counter} + r.{counter}, "
        f"{latest} = GREATEST(t.{latest}, r.{latest}) "
        f"FROM json_to_recordset(%s::json) AS r({_declared(table, ('id', counter, latest))}), "
        f"(SELECT id FROM {table.name} WHERE id = ANY(%s::integer[]) ORDER BY id "
        "FOR NO KEY UPDATE) AS l "
        "WHERE t.id = l.id AND t.id = r.id",
        _datetimes(table, (latest,)),
    )


def _declared(table: Table, names: Sequence[str]) -> str:
    """The record's column list: text for strings (cut in the select), else the real type."""
    parts = []
    for name in names:
        kind = table.columns[name].type
        declared = "text" if isinstance(kind, SafeString) else kind.compile(dialect=_DIALECT)
        parts.append(f"{name} {declared}")
    return ", ".join(parts)


def _selected(table: Table, name: str) -> str:
    """One column as the statement reads it from the record, with its type's promises."""
    kind = table.columns[name].type
    if isinstance(kind, SafeString):
        return f"r.{name}::{kind.impl_instance.compile(dialect=_DIALECT)}"
    if isinstance(kind, JSON) and not kind.none_as_null:
        return f"coalesce(r.{name}, 'null'::json)"
    if not isinstance(kind, Integer | UTCDateTime):
        raise TypeError(f"{table.name}.{name}: no JSON-row form for {kind!r}")
    return f"r.{name}"


def _datetimes(table: Table, names: Sequence[str]) -> tuple[str, ...]:
    """The names among `names` whose column keeps aware UTC timestamps."""
    return tuple(name for name in names if isinstance(table.columns[name].type, UTCDateTime))


ModelT = TypeVar("ModelT", bound=SQLModel)


def attach(session: Session, model: type[ModelT], text: str) -> ModelT:
    """Return the row `text` (``row_to_json`` of a whole row) as a persistent instance of
    `model` in `session`, as if the session had loaded it."""
    values = orjson.loads(text)
    for name, convert in _readers(_table(model)):
        value = values.get(name)
        if value is not None:
            values[name] = convert(value)
    row = new_row(model, values)
    make_transient_to_detached(row)  # its values are what the database holds
    persist(session, row)
    return row


def _aware(text: str) -> datetime:
    """A ``timestamptz`` as ``row_to_json`` writes it, as aware UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


@cache
def _readers(table: Table) -> tuple[tuple[str, Any], ...]:
    """(column, converter) for the columns whose JSON form is not their Python value."""
    readers = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, UTCDateTime):
            readers.append((column.key, _aware))
        elif not isinstance(kind, SafeString | JSON | Integer):
            raise TypeError(f"{table.name}.{column.key}: no JSON-row form for {kind!r}")
    return tuple(readers)
