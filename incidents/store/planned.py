"""The group-commit writer's connection on PostgreSQL: a batch's statements prepared and
planned once, each table reached through an index.

Why: a batch runs three statements of its own (claims and locks, the read-ahead, the
writes), and each run parsed, analysed and planned them again: with their JSON recordsets
and common table expressions, about a third of PostgreSQL's time per batch. While the
writer holds its connection, those statements (``json_rows.fetch`` with ``prepare``) are
prepared on the server at their first run, and their generic plan serves every run after.
Writer alone, batches of 16: PostgreSQL's CPU per delivery fell from 117 µs to 77.

The trap that made ``build_engine`` turn preparing off (its docstring): a generic plan is
made once, from the statistics of the moment, and a look-up planned while its table was
nearly empty stayed a whole-table scan as the table grew. So on this connection sequential
scans are priced out (``enable_seqscan = off``): every table the writer's statements touch
is reached through an index whatever the statistics say, and each has the index it needs
(deliveries by key and id, alerts by fingerprint, incidents by open group, by resolved
group and by id). A table without a usable index would still be scanned: the setting only
makes a scan the last resort. The plan mode is forced generic, so the choice does not wait
on five custom plans' costs. The writer's other statements on this connection (the
unit of work's, a settling count) are planned under the same two settings.

Both settings apply only while the writer holds the connection: ``release`` restores them
before it goes back to the pool, where other statements run unprepared as before. A pooler
that cannot keep prepared statements or session settings (PgBouncer's transaction mode
before 1.21) needs ``INCIDENTS_PREPARED_STATEMENTS=false``, which leaves both off.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

# psycopg prepares a statement only when asked to, or once it has run this many times: in
# practice only when asked. None (the engine's default) would refuse even when asked.
ASKED_ONLY = 1 << 30
_SETTINGS = (("enable_seqscan", "off"), ("plan_cache_mode", "force_generic_plan"))
_HELD = "incidents.planned"  # connection info: the driver's threshold before holding


def hold(connection: Connection) -> None:
    """Prepare what the writer asks to on this connection, plans made once (PostgreSQL with
    psycopg; elsewhere nothing changes)."""
    raw = _psycopg(connection)
    if raw is None or _HELD in connection.info:
        return
    for name, value in _SETTINGS:
        connection.exec_driver_sql(f"SET {name} = {value}")
    connection.commit()
    connection.info[_HELD] = raw.prepare_threshold
    raw.prepare_threshold = ASKED_ONLY


def release(connection: Connection) -> None:
    """Put the connection back as the pool hands it out: nothing prepared from now on
    (what is prepared stays, for the next writer), the settings the server's own."""
    raw = _psycopg(connection)
    if raw is None or _HELD not in connection.info:
        return
    raw.prepare_threshold = connection.info.pop(_HELD)
    connection.rollback()
    for name, _ in _SETTINGS:
        connection.exec_driver_sql(f"RESET {name}")
    connection.commit()


def _psycopg(connection: Connection) -> Any:
    """The psycopg connection under `connection`, or None for any other database or driver."""
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        return None
    return connection.connection.driver_connection
