"""New alerts, timeline entries and incidents' ``updated_at``, written in bulk by group commit.

Why: under a storm nearly every delivery adds one alert and one timeline entry. Through
the ORM's unit of work each cost about as much as the rest of the delivery together
(attribute history, identity map, per-object bookkeeping at flush). A session that bulks
(``enable``; only the group-commit writer's) keeps them as plain pending rows and writes
each kind as one multi-row Core insert:

- just before commit;
- before anything else the session flushes, so ids keep the order rows were recorded in
  and the ORM's own inserts never run ahead of them;
- when a query needs them in the database (``flush``: the intake's settling counts an
  incident's alerts in SQL).

Alert rows are real ``AlertRecord`` objects, kept outside the session while pending: the
intake finds and updates them in memory (store/intake keeps its own map of them). A write
before commit returns their ids and attaches them to the session as persistent rows, so
later changes in the same transaction are tracked as usual; the write at commit skips that.

An incident's ``updated_at``, which every timeline entry moves, is written the same way,
one statement for the whole batch, never through the unit of work (an incident the batch
changes in no other way is not flushed at all). On SQLite, and in a session that bulks
without a writer slot, that statement updates the incidents and the in-memory value is set
as already stored. With a slot (the group-commit writer on PostgreSQL) the touches go to
``incident_touches``, one row per incident and writer, and the incident rows are left
alone: batches that only add alerts then take their incidents' locks shared, and the
instances still hold exactly their rows (store/written).

A repeat of a stored alert (``count_repeat``) is an increment written the same way:
``seen_count`` plus the batch's count and ``last_seen_at`` moved forward, never a value the
batch computed from its reading, so two writers' batches that hold their incidents' locks
shared can both count one alert. They are written only at commit, all in one statement
that locks the rows in id order, so two such batches wait for each other's alert rows in
one order and do not deadlock over them.

Timeline entries are append-only and nothing in a batch reads them back. Only sessions
without savepoints may bulk: a rolled-back savepoint could not take its rows back. A
rollback drops whatever is pending.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, Connection, bindparam, case, event, func, insert, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import get_history, set_committed_value
from sqlmodel import Session, col

from incidents.store import json_rows
from incidents.store.db import UTCDateTime
from incidents.store.models import AlertRecord, Delivery, Incident, IncidentTouch, TimelineEntry

_KEY = "incidents.bulk"
_REWRITTEN = "incidents.bulk.rewritten"  # ids of incidents whose updated_at a write moved
_INSERT_TIMELINE = insert(TimelineEntry)
_ALERT_COLUMNS = tuple(c.key for c in AlertRecord.__table__.columns if c.key != "id")  # type: ignore[attr-defined]
_INSERT_ALERTS = insert(AlertRecord)
_INCIDENT_COLUMNS = tuple(c.key for c in Incident.__table__.columns)  # type: ignore[attr-defined]
_INSERT_INCIDENTS = insert(Incident)
_TOUCH_INCIDENTS = (
    update(Incident)
    .where(col(Incident.id) == bindparam("incident"))
    .values(updated_at=bindparam("at", type_=UTCDateTime))
)
_INSERT_ALERTS_RETURNING = insert(AlertRecord).returning(
    col(AlertRecord.id), sort_by_parameter_order=True
)
_COUNT_REPEATS = (
    update(AlertRecord)
    .where(col(AlertRecord.id) == bindparam("alert"))
    .values(
        seen_count=col(AlertRecord.seen_count) + bindparam("seen"),
        last_seen_at=case(
            (col(AlertRecord.last_seen_at) > bindparam("at", type_=UTCDateTime),
             col(AlertRecord.last_seen_at)),
            else_=bindparam("at", type_=UTCDateTime),
        ),
    )
)  # fmt: skip
_ANSWER_DELIVERIES = (
    update(Delivery)
    .where(col(Delivery.id) == bindparam("claim"))
    .values(result=bindparam("result", type_=JSON))
)


@dataclass(slots=True)
class _Pending:
    """What a bulking session has recorded and not written yet."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[AlertRecord] = field(default_factory=list)
    touched: dict[int, datetime] = field(default_factory=dict)  # incident id → updated_at
    answers: list[dict[str, Any]] = field(default_factory=list)  # deliveries' id, result
    incidents: list[Incident] = field(default_factory=list)  # new, with reserved ids
    repeats: dict[int, tuple[int, datetime]] = field(default_factory=dict)  # alert id → n, last
    slot: int | None = None  # the writer's row in incident_touches; None: update incidents

    def empty(self, *, repeats: bool = True) -> bool:
        """Whether nothing waits to be written (leaving out the repeats unless `repeats`)."""
        return not (self.alerts or self.timeline or self.touched or self.answers
                    or self.incidents or (repeats and self.repeats))  # fmt: skip

    def clear(self, *, repeats: bool = True) -> None:
        """Forget everything pending (but the repeats unless `repeats`)."""
        self.incidents.clear()
        if repeats:
            self.repeats.clear()
        self.timeline.clear()
        self.alerts.clear()
        self.touched.clear()
        self.answers.clear()


def enable(session: Session, *, slot: int | None = None) -> None:
    """Let this session keep new alerts and timeline entries for bulk inserts (and, with a
    `slot`, write its touches of ``updated_at`` to that row of ``incident_touches``)."""
    session.info[_KEY] = _Pending(slot=slot)
    session.info[_REWRITTEN] = set()


def rewritten(session: Session) -> AbstractSet[int]:
    """The incidents whose rows this session's bulk writes updated (``updated_at``)."""
    return cast(AbstractSet[int], session.info.get(_REWRITTEN, frozenset()))


def queue_timeline_row(session: Session, row: dict[str, Any]) -> bool:
    """Queue one timeline row if the session bulks; False means add it yourself."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None:
        return False
    pending.timeline.append(row)
    return True


def queue_alert(session: Session, record: AlertRecord) -> bool:
    """Keep a new alert row pending if the session bulks; False means add it yourself."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None:
        return False
    pending.alerts.append(record)
    return True


def queue_incident(session: Session, incident: Incident, key: int) -> bool:
    """Add a new incident with the id `key`, written with the pending rows if the session
    bulks; False means insert it yourself."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None:
        return False
    incident.id = key
    session.add(incident)
    pending.incidents.append(incident)
    return True


def touch(session: Session, incident: Incident, *, now: datetime) -> bool:
    """Move an incident's ``updated_at`` if the session bulks; False means set it yourself."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None or incident.id is None:
        return False
    if pending.slot is None:
        set_committed_value(incident, "updated_at", now)
    pending.touched[incident.id] = max(now, pending.touched.get(incident.id, now))
    return True


def count_repeat(session: Session, record: AlertRecord, *, now: datetime) -> bool:
    """Count one more sighting of a stored alert as an increment written with the batch, if
    the session bulks for a writer slot; False means change the row yourself."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None or pending.slot is None or record.id is None or _changed(record):
        return False
    seen, last = pending.repeats.get(record.id, (0, now))
    pending.repeats[record.id] = (seen + 1, max(last, now))
    # What the row will hold once this batch's increment lands on the version it read.
    set_committed_value(record, "seen_count", record.seen_count + 1)
    set_committed_value(record, "last_seen_at", max(record.last_seen_at, now))
    return True


def _changed(record: AlertRecord) -> bool:
    """Whether the counter or the time have an unwritten change (then that write carries the
    count: an increment on top would count twice, or be overwritten)."""
    return any(get_history(record, name).has_changes() for name in ("seen_count", "last_seen_at"))


def flush(session: Session) -> None:
    """Write everything pending, then flush the session (for a query that must see it)."""
    _write(session, attach=True)
    session.flush()


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """Write pending rows ahead of the session's other changes."""
    _write(session, attach=True)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    """Write pending rows; the session is about to end, so nothing needs attaching."""
    _write(session, attach=False)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    """Drop pending rows with the transaction that recorded them."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is not None:
        pending.clear()


def _write(session: Session, *, attach: bool) -> None:
    """Write the pending rows: on PostgreSQL in one statement, else one per kind.

    Repeats wait for the write at commit (`attach` False): nothing in a batch reads the
    counters back, and one statement then locks all of a batch's counted alerts in id order.
    """
    pending: _Pending | None = session.info.get(_KEY)
    if pending is None or pending.empty(repeats=not attach):
        return
    connection = session.connection()
    writes = json_rows.Writes(connection)
    alerts, timeline, answers = list(pending.alerts), list(pending.timeline), list(pending.answers)
    opened = [incident for incident in pending.incidents if incident in session.new]
    inserted = {incident.id for incident in opened}  # their insert carries updated_at
    moved = sorted((key, at) for key, at in pending.touched.items() if key not in inserted)
    repeats = [] if attach else sorted(pending.repeats.items())
    slot = pending.slot
    pending.clear(repeats=not attach)
    if opened:
        _write_incidents(session, writes, opened)
        if attach and alerts:
            writes.run()  # the alerts' insert below returns ids: it runs on its own, after
    if alerts:
        _write_alerts(session, writes, alerts, attach=attach)
    if timeline and not writes.insert(TimelineEntry, timeline):
        connection.execute(_INSERT_TIMELINE, timeline)
    if moved:
        _write_moved(session, writes, moved, slot)
    if repeats:
        _write_repeats(connection, writes, repeats)
    if answers and not writes.update(Delivery, answers, ("result",)):
        _answer_each(connection, answers)
    writes.run()


def _write_repeats(connection: Connection, writes: json_rows.Writes,
                   repeats: list[tuple[int, tuple[int, datetime]]]) -> None:  # fmt: skip
    """Add the batch's repeat counts to its stored alerts' rows, locked in id order."""
    rows = [{"id": key, "seen_count": seen, "last_seen_at": at} for key, (seen, at) in repeats]
    if writes.accumulate(AlertRecord, rows, counter="seen_count", latest="last_seen_at"):
        return
    for key, (seen, at) in repeats:  # one by one, sorted: each locks its row in turn
        connection.execute(_COUNT_REPEATS, {"alert": key, "seen": seen, "at": at})


def _write_moved(session: Session, writes: json_rows.Writes, moved: list[tuple[int, datetime]],
                 slot: int | None) -> None:  # fmt: skip
    """Move incidents' ``updated_at``: in the writer's touches with a slot, else their rows."""
    connection = session.connection()
    if slot is not None:
        _write_touches(connection, writes, moved, slot)
        return
    session.info.setdefault(_REWRITTEN, set()).update(key for key, _ in moved)
    touched = [{"id": key, "updated_at": at} for key, at in moved]
    if not writes.update(Incident, touched, ("updated_at",)):
        connection.execute(_TOUCH_INCIDENTS,
                           [{"incident": key, "at": at} for key, at in moved])  # fmt: skip


def _write_touches(
    connection: Connection, writes: json_rows.Writes, moved: list[tuple[int, datetime]], slot: int
) -> None:
    """Move this writer's ``incident_touches`` rows forward (never back)."""
    rows = [{"incident_id": key, "slot": slot, "at": at} for key, at in moved]
    if writes.upsert(IncidentTouch, rows, ("incident_id", "slot"), "at"):
        return
    upsert = postgresql.insert(IncidentTouch).values(rows)
    connection.execute(upsert.on_conflict_do_update(
        index_elements=["incident_id", "slot"],
        set_={"at": func.greatest(IncidentTouch.__table__.c.at, upsert.excluded.at)},  # type: ignore[attr-defined]
    ))  # fmt: skip


def write_answers(session: Session, answers: list[dict[str, Any]]) -> None:
    """Store deliveries' answers (``id``, ``result``): with the batch's other rows if the
    session bulks, else now."""
    pending: _Pending | None = session.info.get(_KEY)
    if pending is not None:
        pending.answers.extend(answers)
        return
    connection = session.connection()
    writes = json_rows.Writes(connection)
    if writes.update(Delivery, answers, ("result",)):
        writes.run()
        return
    _answer_each(connection, answers)


def _answer_each(connection: Connection, answers: list[dict[str, Any]]) -> None:
    """Store answers through SQLAlchemy's types (SQLite, or values JSON rows cannot carry)."""
    params = [{"claim": row["id"], "result": row["result"]} for row in answers]
    connection.execute(_ANSWER_DELIVERIES, params)


def _write_alerts(
    session: Session, writes: json_rows.Writes, alerts: list[AlertRecord], *, attach: bool
) -> None:
    """Insert alert rows; when attaching, give each its id and make it a tracked row."""
    rows = [_row(record, _ALERT_COLUMNS) for record in alerts]
    connection = session.connection()
    if not attach:
        if not writes.insert(AlertRecord, rows):
            connection.execute(_INSERT_ALERTS, rows)
        return
    ids = connection.execute(_INSERT_ALERTS_RETURNING, rows).scalars().all()
    for record, row_id in zip(alerts, ids, strict=True):
        record.id = row_id
        make_transient_to_detached(record)  # its values are now what the database holds
        session.add(record)


def _write_incidents(session: Session, writes: json_rows.Writes, opened: list[Incident]) -> None:
    """Insert new incidents (ids included) ahead of the rows that name them, and make each
    a persistent row, as if the unit of work had inserted it.

    Their foreign keys are checked at the end of the statement, which holds the incidents'
    insert too.
    """
    rows = [_row(incident, _INCIDENT_COLUMNS) for incident in opened]
    if not writes.insert(Incident, rows, keyed=True):
        session.connection().execute(_INSERT_INCIDENTS, rows)
    for incident in opened:
        session.expunge(incident)
        make_transient_to_detached(incident)  # its values are now what the database holds
        session.add(incident)


def _row(instance: Incident | AlertRecord, columns: tuple[str, ...]) -> dict[str, Any]:
    """Return an unwritten row's column values from its instance dictionary (a transient row
    holds every value there; reading them through the attributes cost a tenth of a write)."""
    held = instance.__dict__
    return {name: held[name] if name in held else getattr(instance, name) for name in columns}
