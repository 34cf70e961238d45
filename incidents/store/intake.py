"""Repository functions for alert intake: open groups, alerts, and seen deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import and_, bindparam, case, delete, event, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from incidents.domain.lifecycle import Status
from incidents.store import bulk, json_rows, rows
from incidents.store.incidents import add_incident
from incidents.store.models import AlertRecord, Delivery, Incident
from incidents.store.written import Writer, WrittenIncidents, note_locked

AUTO_ACTOR = "auto"
DELIVERY_MEMORY = timedelta(hours=24)


def find_open_incident(session: Session, *, source: str, group_key: str) -> Incident | None:
    """Return the open incident of a group, locked for update.

    Within one transaction the answer is remembered: the row lock holds until commit, so
    nobody else can have changed it, and group commit applies many deliveries of the same
    group in one transaction.
    """
    known = _open_groups(session)
    cached = known.get((source, group_key))
    if cached is not None and cached in session and cached.status != Status.RESOLVED.value:
        return cached
    if cached is None and (source, group_key) in _per_transaction(session, _ABSENT):
        return None  # the batch's start found none, under the locks (start_batch)
    params = {"source": source, "group": group_key}
    found = session.exec(_OPEN_INCIDENT, params=params).first()
    if found is not None and found.status == Status.RESOLVED.value:  # resolved, not flushed
        session.flush()
        found = session.exec(_OPEN_INCIDENT, params=params).first()
    if found is not None:
        known[(source, group_key)] = found
    return found


def remember_open(session: Session, incident: Incident) -> None:
    """Note an incident this transaction opened or reopened as its group's open one (what
    the batch's start read about the group no longer holds)."""
    group = (incident.source, incident.group_key or "")
    _open_groups(session)[group] = incident
    _per_transaction(session, _ABSENT).pop(group, None)
    _per_transaction(session, _REOPENABLE).pop(group, None)


def _open_groups(session: Session) -> dict[tuple[str, str], Incident]:
    """Return this transaction's open incidents by group."""
    return _per_transaction(session, _OPEN_GROUPS)


def _per_transaction(session: Session, name: str) -> dict[Any, Any]:
    """Return a map kept in the session for the current transaction only (new each time)."""
    transaction = session.get_transaction() or session.begin()  # the map needs one to mark
    mark, stored = session.info.get(name, (None, None))
    if mark is transaction and stored is not None:
        return cast(dict[Any, Any], stored)
    known: dict[Any, Any] = {}
    session.info[name] = (transaction, known)
    return known


_OPEN_GROUPS = "incidents_open_groups"
_ABSENT = "incidents_groups_without_open"  # groups the batch's start found no open incident of
_REOPENABLE = "incidents_reopen_candidates"  # their auto-resolved incidents, read then
_NEW_ALERTS = "incidents_new_alerts"
_PREFETCHED = "incidents_prefetched_fingerprints"
_RESERVED = "incidents_reserved_ids"  # incident ids the batch's start took (keys, in order)
_SHARED = "incidents_shared_locks"  # ids of the open incidents the batch holds FOR SHARE


class NeedsExclusive(Exception):  # noqa: N818 (a signal to run again, not an error)
    """A batch that took its incidents' locks shared would change a stored row: run it again
    with them exclusive (``start_batch``'s `shared`)."""


@event.listens_for(Session, "before_flush", insert=True)
def _refuse_changes_under_shared_locks(session: Session, _context: Any, _instances: Any) -> None:
    """Stop a shared batch before it writes a change to an incident or alert it read."""
    _refuse_changes(session)


@event.listens_for(Session, "before_commit", insert=True)
def _refuse_changes_before_commit(session: Session) -> None:
    """The same, ahead of the batch's writes at commit (store/bulk), so a refused batch
    sends nothing."""
    _refuse_changes(session)


def _refuse_changes(session: Session) -> None:
    """Raise ``NeedsExclusive`` when a batch holding shared locks changed a stored row."""
    mark, shared = session.info.get(_SHARED, (None, None))
    if not shared or mark is not session.get_transaction():
        return
    for row in session.dirty:
        stored = isinstance(row, AlertRecord) or (isinstance(row, Incident) and row.id in shared)
        if stored and session.is_modified(row):
            raise NeedsExclusive(f"a batch holding shared locks would change {type(row).__name__}")


def find_reopenable(
    session: Session, *, source: str, group_key: str, since: datetime
) -> Incident | None:
    """Return the group's newest incident auto-resolved at or after `since`, locked.

    A resolution earlier in this transaction counts, so changed incidents are written
    first; only they: flushing for nothing wrote a batch's pending alerts and timeline
    entries once per new group (a storm's onset is hundreds of new groups).
    """
    candidates = _per_transaction(session, _REOPENABLE).get((source, group_key))
    if candidates is not None:  # read (and locked) by the batch's start
        fitting = [incident for incident in candidates
                   if incident.status == Status.RESOLVED.value
                   and incident.resolved_by == AUTO_ACTOR and incident.resolved_at is not None
                   and incident.resolved_at >= since]  # fmt: skip
        return max(fitting, key=lambda incident: incident.id or 0, default=None)
    if any(isinstance(row, Incident) for row in (*session.new, *session.dirty)):
        session.flush()
    params = {"source": source, "keys": [group_key], "since": since}
    return session.exec(_NEWEST_REOPENABLE, params=params).first()


def find_matching_alert(
    session: Session, *, incident_id: int, source: str, fingerprint: str, starts_at: datetime
) -> AlertRecord | None:
    """Return the incident's firing alert with this fingerprint, else the exact identity.

    One query on (fingerprint, source), the unique index's prefix: an incident's alerts
    all come from its own source, and filtering by incident first would scan every alert
    of the incident, which under a storm grows with each delivery. Alerts this transaction
    added and has not flushed yet (group commit defers the flush to the end of a batch)
    are looked at first; a database row whose unflushed state no longer matches sends the
    question to the database again after a flush.
    """

    def fits(record: AlertRecord) -> bool:
        firing_here = record.incident_id == incident_id and record.status == "firing"
        return firing_here or record.starts_at == starts_at

    known = [r for r in _new_alerts(session).get((source, fingerprint), []) if fits(r)]
    if known:
        return min(known, key=lambda r: 0 if r.status == "firing" else 1)
    if (source, fingerprint) in _per_transaction(session, _PREFETCHED):
        return None  # every stored alert with this fingerprint is already in memory
    params = {"source": source, "fingerprint": fingerprint, "incident": incident_id,
              "starts": starts_at}  # fmt: skip
    found = session.exec(_MATCHING_ALERT, params=params).first()
    if found is not None and not fits(found):
        bulk.flush(session)
        found = session.exec(_MATCHING_ALERT, params=params).first()
    return found


def count_repeat(session: Session, record: AlertRecord, *, now: datetime) -> None:
    """Count one more sighting of a stored alert: with a group-commit writer's batch, an
    increment written at its end (two batches holding their incidents' locks shared may
    both count one alert; store/bulk), else a change of the row."""
    if not bulk.count_repeat(session, record, now=now):
        record.last_seen_at = max(record.last_seen_at, now)  # a late delivery's older time
        record.seen_count += 1


def add_alert(session: Session, record: AlertRecord) -> None:
    """Add a new alert row (written with the transaction's next flush, in bulk if it may)."""
    if not bulk.queue_alert(session, record):
        session.add(record)
    _new_alerts(session).setdefault((record.source, record.fingerprint), []).append(record)


def _new_alerts(session: Session) -> dict[tuple[str, str], list[AlertRecord]]:
    """Return the alerts this transaction added or prefetched, by (source, fingerprint)."""
    return _per_transaction(session, _NEW_ALERTS)


def prefetch(session: Session, *, groups: set[tuple[str, str]],
             fingerprints: set[tuple[str, str]]) -> None:  # fmt: skip
    """Load a batch's open incidents (locked, in group order) and its alerts' stored rows in a
    few statements, so applying each delivery asks the database nothing more about them."""
    open_groups = _open_groups(session)
    for source, keys in _by_source(groups).items():
        for chunk in _chunks(keys):
            for incident in session.exec(_OPEN_INCIDENTS, params={"source": source, "keys": chunk}):
                open_groups[(source, incident.group_key or "")] = incident
    seen = _new_alerts(session)
    complete = _per_transaction(session, _PREFETCHED)
    for source, keys in _by_source(fingerprints).items():
        for chunk in _chunks(keys):
            for record in session.exec(_ALERTS_BY_FINGERPRINT,
                                       params={"source": source, "keys": chunk}):  # fmt: skip
                seen.setdefault((source, record.fingerprint), []).append(record)
            complete.update({(source, key): True for key in chunk})


def start_batch(
    session: Session, deliveries: Sequence[tuple[str, str, timedelta]], *, now: datetime,
    groups: set[tuple[str, str]], fingerprints: set[tuple[str, str]],
    reopen_since: datetime | None = None, written: WrittenIncidents | None = None,
    shared: bool = False,
) -> list[Claim | None]:  # fmt: skip
    """Claim a batch's deliveries (``claim_many``) and load what it will touch (``prefetch``).

    On PostgreSQL the claims and the open incidents (locked, in group order) are one
    statement and the alerts' stored rows another, each row read back as one JSON value
    and made a persistent instance without the ORM's loading machinery. Why: a batch's
    look-ups through the ORM were a third of the group-commit writer's time under a storm
    (result set-up for 35 columns, expanding IN lists, instance loading). The alerts are
    read by a statement of their own, after the locks: a statement sees the database as it
    was when it began, and only once it holds an incident's lock may it trust what it reads
    of that incident's alerts.

    That second statement also reads (and locks) the incidents auto-resolved since
    `reopen_since` of the groups with no open incident, and the look-ups of such a group
    then ask nothing more (``find_open_incident``, ``find_reopenable``): a storm's onset is
    hundreds of new groups, and each cost two more round trips.

    `written` holds the incidents the caller's earlier batches committed: those whose rows
    are still those versions come from there instead of their rows (store/written).

    `shared` (PostgreSQL) locks the open incidents ``FOR SHARE`` instead of ``FOR UPDATE``,
    for a batch that only adds: two serving processes' batches then add alerts to the same
    incidents side by side instead of in turn. Such a batch must change no stored incident
    or alert row (``NeedsExclusive``, raised before a flush, says when it would, and it is
    run again exclusively): shared locks would let two batches change one row from the
    same reading. Repeats of stored alerts are increments, not changes (``count_repeat``).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        by_group, by_fingerprint = _keyed(groups, "group_key"), _keyed(fingerprints, "fingerprint")
        if by_group is not None and by_fingerprint is not None:
            claims = _start_in_json(session, connection, deliveries, now=now, keys=by_group,
                                    written=written or WrittenIncidents(),
                                    shared=shared)  # fmt: skip
            if claims is not None:
                absent = groups - _open_groups(session).keys() if reopen_since else set()
                _read_ahead(session, connection, (fingerprints, by_fingerprint), absent,
                            reopen_since)  # fmt: skip
                return claims
    claims = claim_many(session, deliveries, now=now)
    prefetch(session, groups=groups, fingerprints=fingerprints)
    if connection.dialect.name == "sqlite" and reopen_since is not None:
        _read_ahead_new_groups(session, groups - _open_groups(session).keys(), reopen_since)
    return claims


def _note_new_groups(session: Session, reopenable: dict[tuple[str, str], list[Incident]]) -> None:
    """Note what the batch's start read about its groups without an open incident: none is
    open, and these are their reopen candidates (``find_open_incident``, ``find_reopenable``)."""
    _per_transaction(session, _ABSENT).update(dict.fromkeys(reopenable, True))
    _per_transaction(session, _REOPENABLE).update(reopenable)


def _read_ahead_new_groups(
    session: Session, absent: set[tuple[str, str]], reopen_since: datetime
) -> None:
    """SQLite: load the reopen candidates of the groups without an open incident in one
    query per source, and reserve ids for the incidents they may open (the next ids after
    the largest: the transaction holds SQLite's write lock, so nobody else can take them).

    Why: each new group cost a reopen query and an insert of its incident at once (with
    the batch's pending rows flushed before it), 5 ms per group on the 2-core VM, and a
    storm's first batches open a group per delivery: the ingest benchmark's first batch of
    32 new groups took 260 ms. PostgreSQL does the same in its batch start (``_read_ahead``).
    """
    if not absent:
        return
    reopenable: dict[tuple[str, str], list[Incident]] = {group: [] for group in absent}
    for source, keys in _by_source(absent).items():
        for chunk in _chunks(keys):
            params = {"source": source, "keys": chunk, "since": reopen_since}
            for incident in session.exec(_REOPEN_CANDIDATES, params=params):
                reopenable[(source, incident.group_key or "")].append(incident)
    largest = session.exec(select(func.max(Incident.id))).one() or 0
    reserved = _per_transaction(session, _RESERVED)
    reserved.update(dict.fromkeys(range(largest + 1, largest + 1 + len(absent)), True))
    _note_new_groups(session, reopenable)


_Keyed = tuple[str, tuple[Any, ...]]  # a WHERE condition and its parameters


def _start_in_json(
    session: Session, connection: Any, deliveries: Sequence[tuple[str, str, timedelta]], *,
    now: datetime, keys: _Keyed, written: WrittenIncidents, shared: bool = False,
) -> list[Claim | None] | None:  # fmt: skip
    """Claim and lock in one statement; None (and nothing done) when the claims cannot go
    as JSON."""
    firsts, cutoffs = _firsts(deliveries, now=now)
    rows = [{"source": source, "key": key, "received_at": now} for source, key in firsts]
    payload = json_rows.encode(rows, ("received_at",))
    if payload is None:
        return None
    claims: dict[tuple[str, str], Claim] = {}
    open_groups = _open_groups(session)
    params = (payload, *keys[1], written.versions())
    # A claim's row: (its id, source, key, NULL, NULL); an incident's: (its id, transaction
    # id, server process id, version, JSON) — see _claim_and_lock_statement.
    for row_id, second, third, version, incident in json_rows.fetch(
        connection, _claim_and_lock_statement(keys[0], shared), params, prepare=True
    ):
        if version is None:
            claims[(second, third)] = Claim(id=int(row_id), seen=False)
            continue
        writer = Writer(transaction=int(second), backend=int(third))
        loaded = _locked_incident(session, written, int(row_id), version, writer, incident)
        open_groups[(loaded.source, loaded.group_key or "")] = loaded
        if shared:
            _per_transaction(session, _SHARED)[loaded.id] = True
    for pair, row in _stored_deliveries(connection, set(firsts) - set(claims)).items():
        claims[pair] = _existing(connection, row, cutoff=cutoffs[pair], now=now)
    return [claims[(source, key)] if firsts[(source, key)] == index else None
            for index, (source, key, _) in enumerate(deliveries)]  # fmt: skip


def _locked_incident(
    session: Session, written: WrittenIncidents, incident_id: int, version: str,
    writer: Writer, row: str | None,
) -> Incident:  # fmt: skip
    """Return a locked incident as a persistent instance: from its row's JSON, else (no JSON:
    the writer holds that version) the instance held."""
    loaded = None if row is not None else written.take(incident_id, version, writer)
    if loaded is not None:
        rows.persist(session, loaded)
    elif row is not None:
        written.drop(incident_id)
        loaded = json_rows.attach(session, Incident, row)
    else:  # held too long to be trusted: read it again (it is locked already)
        loaded = session.exec(select(Incident).where(col(Incident.id) == incident_id)).one()
    note_locked(session, writer, loaded, version)
    return loaded


def _claim_and_lock_statement(groups: str, shared: bool = False) -> str:
    """The claims' insert and the open incidents of `groups`, locked in group order (shared:
    ``FOR SHARE``), as one statement: rows (id, source, key, NULL, NULL) of new claims, then
    (incident id, this transaction's id, the server process's id, the row's version
    "id:xmin", the row's JSON) of incidents, the JSON left out for the versions named by the
    last parameter (store/written). A row whose version is older than 2^30 transactions is
    named "id:old", which is never kept: only younger ones are unambiguous (store/written)."""
    insert, _ = json_rows.insert_statement(Delivery, _CLAIM_COLUMNS)
    mode = "FOR SHARE" if shared else "FOR UPDATE"
    return (
        f"WITH c AS ({insert} {_CLAIM_CONFLICT}), "
        "o AS (SELECT i.id, i.id || ':' || CASE WHEN age(i.xmin) < 1073741824 "
        "THEN i.xmin::text ELSE 'old' END AS v, i AS r FROM incidents AS i "
        f"WHERE i.status != 'resolved' AND ({groups}) "
        f"ORDER BY i.source, i.group_key {mode}) "
        "SELECT c.id, c.source, c.key, NULL, NULL FROM c "
        "UNION ALL SELECT o.id, pg_current_xact_id()::text, pg_backend_pid()::text, o.v, "
        "CASE WHEN o.v = ANY(%s::text[]) THEN NULL ELSE row_to_json(o.r)::text END FROM o"
    )


def _read_ahead(
    session: Session, connection: Any,
    alerts: tuple[set[tuple[str, str]], _Keyed], absent: set[tuple[str, str]],
    reopen_since: datetime | None,
) -> None:  # fmt: skip
    """Load the alerts' stored rows by fingerprint and, for the groups without an open
    incident, their incidents auto-resolved since `reopen_since` (locked)."""
    fingerprints, by_fingerprint = alerts
    parts: list[str] = []
    params: list[Any] = []
    by_group = _keyed(absent, "group_key")
    if absent and by_group is not None and reopen_since is not None:
        parts.append(f"WITH r AS (SELECT * FROM incidents WHERE status = 'resolved' AND "
                     f"resolved_by = %s AND resolved_at >= %s AND ({by_group[0]}) "
                     "ORDER BY source, group_key, id FOR UPDATE) "
                     "SELECT NULL, row_to_json(r)::text, NULL::bigint FROM r")  # fmt: skip
        params.extend((AUTO_ACTOR, reopen_since, *by_group[1]))
    if fingerprints:
        parts.append(f"SELECT row_to_json(a)::text, NULL, NULL::bigint FROM alerts AS a "
                     f"WHERE {by_fingerprint[0]}")  # fmt: skip
        params.extend(by_fingerprint[1])
    if absent:
        parts.append(_RESERVE_IDS)
        params.append(len(absent))
    seen = _new_alerts(session)
    reopenable: dict[tuple[str, str], list[Incident]] = {group: [] for group in absent}
    reserved = _per_transaction(session, _RESERVED)
    statement = " UNION ALL ".join(parts)
    rows = json_rows.fetch(connection, statement, params, prepare=True) if parts else []
    for alert, incident, key in rows:
        if key is not None:
            reserved[int(key)] = True
        elif alert is not None:
            record = json_rows.attach(session, AlertRecord, alert)
            seen.setdefault((record.source, record.fingerprint), []).append(record)
        else:
            loaded = json_rows.attach(session, Incident, incident)
            reopenable[(loaded.source, loaded.group_key or "")].append(loaded)
    _per_transaction(session, _PREFETCHED).update(dict.fromkeys(fingerprints, True))
    _note_new_groups(session, reopenable)


# Ids for the incidents a batch may open, one per group without an open incident. Why: an
# incident opened without an id had to be inserted at once (its alerts and timeline
# entries need the id), one round trip each, with the batch's pending rows written before
# it: a storm's first batches open a group per delivery, and each cost 5-7 ms
# (``open_incident``). An id left unused is a gap in the numbering, as a rolled-back
# transaction leaves one.
_RESERVE_IDS = ("SELECT NULL, NULL, nextval(pg_get_serial_sequence('incidents', 'id')) "
                "FROM generate_series(1, %s)")  # fmt: skip


def open_incident(session: Session, incident: Incident) -> None:
    """Add a new incident with an id: one the batch's start reserved, written with the
    batch's other rows (``bulk``), else from an insert now."""
    reserved = _per_transaction(session, _RESERVED)
    key = next(iter(reserved), None)
    if key is not None and bulk.queue_incident(session, incident, key):
        del reserved[key]
        return
    add_incident(session, incident)


def _keyed(pairs: set[tuple[str, str]], column: str) -> _Keyed | None:
    """The condition matching (source, key) `pairs` on `column`, and its parameters; None
    when a key holds what a text array cannot carry as it would be stored."""
    parts: list[str] = []
    params: list[Any] = []
    for source, keys in _by_source(pairs).items():
        if not all(_plain(key) for key in keys) or not _plain(source):
            return None
        parts.append(f"(source = %s AND {column} = ANY(%s::text[]))")
        params.extend((source, json_rows.text_array(keys)))
    return (" OR ".join(parts) or "false"), tuple(params)


def _plain(text: str) -> bool:
    """Whether a key goes to the database unchanged (SafeString would replace NUL, and a
    text array cannot carry lone surrogates): ASCII without NUL, nearly every key."""
    return text.isascii() and "\x00" not in text


def _firsts(deliveries: Sequence[tuple[str, str, timedelta]], *, now: datetime
            ) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], datetime]]:  # fmt: skip
    """Each key's first place in the batch, and the time before which a stored one is stale."""
    firsts: dict[tuple[str, str], int] = {}
    cutoffs: dict[tuple[str, str], datetime] = {}
    for index, (source, key, memory) in enumerate(deliveries):
        if (source, key) not in firsts:
            firsts[(source, key)] = index
            cutoffs[(source, key)] = now - memory
    return firsts, cutoffs


def _by_source(pairs: set[tuple[str, str]]) -> dict[str, list[str]]:
    """Group (source, key) pairs by source, keys sorted."""
    grouped: dict[str, list[str]] = {}
    for source, key in sorted(pairs):
        grouped.setdefault(source, []).append(key)
    return grouped


def _chunks(keys: list[str], size: int = 500) -> list[list[str]]:
    """Split keys so no IN list outgrows what a database accepts."""
    return [keys[start : start + size] for start in range(0, len(keys), size)]


def alert_states(session: Session, incident_id: int) -> tuple[int, int, datetime | None, int]:
    """Return (alerts, unresolved, latest end, resolved without an end) of an incident.

    One aggregate in the database instead of loading every alert row: settling asks this
    on each delivery that resolves something, and a stormy incident holds thousands.
    """
    bulk.flush(session)  # the count must include alerts this transaction added
    unresolved = case((col(AlertRecord.status) != "resolved", 1), else_=0)
    endless = case((col(AlertRecord.ends_at).is_(None), 1), else_=0)
    statement = select(
        func.count(), func.coalesce(func.sum(unresolved), 0), func.max(AlertRecord.ends_at),
        func.coalesce(func.sum(endless), 0),
    ).where(AlertRecord.incident_id == incident_id)  # fmt: skip
    count, open_, latest, missing = session.exec(statement).one()
    return int(count), int(open_), latest, int(missing)


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery's row: its id, whether it was seen before, and the first answer if so."""

    id: int
    seen: bool
    result: dict[str, Any] | None = None


def claim_delivery(
    session: Session,
    *,
    source: str,
    key: str,
    now: datetime,
    memory: timedelta = DELIVERY_MEMORY,
) -> Claim:
    """Record a delivery, or learn that it was already seen within `memory`."""
    claim = claim_many(session, [(source, key, memory)], now=now)[0]
    assert claim is not None  # the only delivery is its own first
    return claim


def claim_many(
    session: Session, deliveries: Sequence[tuple[str, str, timedelta]], *, now: datetime
) -> list[Claim | None]:
    """Claim a batch's deliveries (source, key, memory); a repeat of an earlier delivery in
    the same batch gets None (it is answered from that one).

    New keys are inserted by one multi-row statement (``ON CONFLICT DO NOTHING``: no
    parameter outside its VALUES, so the driver gets one statement, not one per row). Keys
    already there are read back; one older than its memory is claimed afresh by a
    conditional update (rare: a redelivery after a day). On PostgreSQL a concurrent claim
    of the same key waits for the first to commit and then finds it seen, so exactly one
    of them applies the delivery.
    """
    firsts, cutoffs = _firsts(deliveries, now=now)
    if not firsts:
        return []
    connection = session.connection()
    inserted = _insert_claims(connection, list(firsts), now=now)
    claims = {(row.source, row.key): Claim(id=int(row.id), seen=False) for row in inserted}
    for pair, row in _stored_deliveries(connection, set(firsts) - set(claims)).items():
        claims[pair] = _existing(connection, row, cutoff=cutoffs[pair], now=now)
    return [claims[(source, key)] if firsts[(source, key)] == index else None
            for index, (source, key, _) in enumerate(deliveries)]  # fmt: skip


def _insert_claims(connection: Any, pairs: list[tuple[str, str]], *, now: datetime) -> Any:
    """Insert the keys not stored yet; return the (id, source, key) rows it inserted."""
    rows = [{"source": source, "key": key, "received_at": now} for source, key in pairs]
    inserted = json_rows.insert(connection, Delivery, rows, columns=_CLAIM_COLUMNS,
                                suffix=_CLAIM_CONFLICT)  # fmt: skip
    if inserted is not None:
        return inserted
    params = [{"source": source, "key": key, "now": now} for source, key in pairs]
    return connection.execute(_claim_new_statement(connection.dialect.name), params)


_CLAIM_COLUMNS = ("source", "key", "received_at")
_CLAIM_CONFLICT = "ON CONFLICT (source, key) DO NOTHING RETURNING id, source, key"


def _stored_deliveries(connection: Any, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Return the stored rows (id, key, result, received_at) of deliveries already seen."""
    found: dict[tuple[str, str], Any] = {}
    for source, keys in _by_source(pairs).items():
        for chunk in _chunks(keys):
            for row in connection.execute(_SEEN_DELIVERIES, {"source": source, "keys": chunk}):
                found[(source, row.key)] = row
    return found


def _existing(connection: Any, row: Any, *, cutoff: datetime, now: datetime) -> Claim:
    """Answer a key already stored: seen, unless it is older than its memory and this
    claim wins the conditional update that starts it afresh."""
    if row.received_at >= cutoff:
        return Claim(id=int(row.id), seen=True, result=row.result)
    params = {"claim": row.id, "cutoff": cutoff, "claimed_at": now}
    if connection.execute(_RECLAIM, params).scalar_one_or_none() is not None:
        return Claim(id=int(row.id), seen=False)
    again = connection.execute(_SEEN_BY_ID, {"claim": row.id}).one()  # another claim won
    return Claim(id=int(row.id), seen=True, result=again.result)


def record_results(session: Session, results: Sequence[tuple[Claim, dict[str, Any]]]) -> None:
    """Keep a batch's answers for their redeliveries (with the batch's other rows when the
    session bulks)."""
    if results:
        bulk.write_answers(
            session, [{"id": claim.id, "result": result} for claim, result in results]
        )


def record_result(session: Session, claim: Claim, result: dict[str, Any]) -> None:
    """Keep a delivery's answer for its redeliveries."""
    record_results(session, [(claim, result)])


@cache
def _claim_new_statement(dialect: str) -> Any:
    """The batch claim: insert the keys not stored yet, returning which ones it inserted."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Delivery).values(
        source=bindparam("source"), key=bindparam("key"), received_at=bindparam("now"),
        result=None,
    )  # fmt: skip
    return statement.on_conflict_do_nothing(index_elements=["source", "key"]).returning(
        col(Delivery.id), col(Delivery.source), col(Delivery.key)
    )


# The intake's statements, built once: under a storm building them cost as much as running.
_OPEN_INCIDENT = (
    select(Incident)
    .where(col(Incident.source) == bindparam("source"))
    .where(col(Incident.group_key) == bindparam("group"))
    .where(col(Incident.status) != Status.RESOLVED.value)
    .with_for_update()
)
_OPEN_INCIDENTS = (
    select(Incident)
    .where(col(Incident.source) == bindparam("source"))
    .where(col(Incident.group_key).in_(bindparam("keys", expanding=True)))
    .where(col(Incident.status) != Status.RESOLVED.value)
    .order_by(col(Incident.group_key))  # one lock order for every batch
    .with_for_update()
)
_REOPEN_CANDIDATES = (
    select(Incident)
    .where(col(Incident.source) == bindparam("source"))
    .where(col(Incident.group_key).in_(bindparam("keys", expanding=True)))
    .where(col(Incident.status) == Status.RESOLVED.value, Incident.resolved_by == AUTO_ACTOR)
    .where(col(Incident.resolved_at) >= bindparam("since"))
)
_NEWEST_REOPENABLE = _REOPEN_CANDIDATES.order_by(col(Incident.id).desc()).limit(1).with_for_update()
_ALERTS_BY_FINGERPRINT = select(AlertRecord).where(
    col(AlertRecord.source) == bindparam("source"),
    col(AlertRecord.fingerprint).in_(bindparam("keys", expanding=True)),
)
_FIRING_HERE = and_(
    col(AlertRecord.incident_id) == bindparam("incident"), col(AlertRecord.status) == "firing"
)
_MATCHING_ALERT = (
    select(AlertRecord)
    .where(col(AlertRecord.source) == bindparam("source"))
    .where(col(AlertRecord.fingerprint) == bindparam("fingerprint"))
    .where(or_(_FIRING_HERE, col(AlertRecord.starts_at) == bindparam("starts")))
    .order_by(case((_FIRING_HERE, 0), else_=1))
    .limit(1)
)
_SEEN_DELIVERIES = select(
    col(Delivery.id), col(Delivery.key), col(Delivery.result), col(Delivery.received_at)
).where(
    col(Delivery.source) == bindparam("source"),
    col(Delivery.key).in_(bindparam("keys", expanding=True)),
)
_SEEN_BY_ID = select(col(Delivery.result)).where(col(Delivery.id) == bindparam("claim"))
_RECLAIM = (
    update(Delivery)
    .where(col(Delivery.id) == bindparam("claim"))
    .where(col(Delivery.received_at) < bindparam("cutoff"))
    .values(received_at=bindparam("claimed_at"), result=None)
    .returning(col(Delivery.id))
)


def forget_old_deliveries(session: Session, *, now: datetime) -> None:
    """Delete delivery records older than the idempotency window."""
    cutoff = now - DELIVERY_MEMORY
    session.execute(delete(Delivery).where(col(Delivery.received_at) < cutoff))
