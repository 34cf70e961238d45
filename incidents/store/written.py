"""Incidents the group-commit writer committed, taken again by its next batches while their
rows are still the versions its batches left (PostgreSQL).

Why: every batch locks its groups' open incidents, and each came back as its row's JSON and
was made an instance (parse, datetimes, a new instance and its state): under a storm the
same few dozen incidents, batch after batch, a fifth of the writer's time. Each row version
carries the id of the transaction that wrote it (``xmin``). While an incident's row is still
the version one of this writer's batches left, the instance that batch committed holds
exactly that row: the statement that locks it sends no JSON for it (it is told which
versions the writer holds) and the batch takes the instance.

Which version a batch left: the one it read, if it did not write the row (a batch that only
added alerts: on PostgreSQL the writer's touches of ``updated_at`` go to a table of their
own, store/bulk); else the one its own transaction wrote, when only ``updated_at`` changed,
by the batch's bulk update (sessions that bulk without a writer slot).

What "exactly that row" rests on, each part checked here or where noted:

- the instance was read from its row in that batch (or taken so, by the same rule), and the
  only change the batch made to it that the unit of work did not write is ``updated_at``,
  whose value it holds (store/bulk.touch), or none; an incident the unit of work wrote in
  the batch is not kept (a value's stored form may differ from the one in memory: a string
  cut to its column);
- the batch committed: a failed batch forgets everything kept (group_commit), since its
  instances hold changes that were rolled back;
- a version the batch wrote must be its own transaction's: a row written inside a
  savepoint carries the subtransaction's id and never matches (group commit uses none);
- ids are compared as the 32 bits a row carries, which is unambiguous only within 2^31
  transactions: an entry older than that is not trusted, and its incident is read again.
  A version read is kept only when it was younger than 2^30 transactions then (the locking
  statement names older ones "id:old"): a later version with the same 32 bits would be at
  least 2^32 - 2^30 transactions younger than the batch that read it, beyond that horizon;
- transaction ids are the server's own: they are trusted only on the server process the
  entries came from. A pooler in front (PgBouncer) may hand the writer another server
  process, even another server after a failover, where ids may have been given out again:
  a batch on another process forgets everything held.

An incident someone else changed since (the other worker, the API, a person in Slack) has a
new version, and is read from its row as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlmodel import Session

from incidents.store import bulk
from incidents.store.models import Incident

_MASK = 0xFFFF_FFFF  # a row's xmin is the low 32 bits of the writing transaction's id
_HORIZON = 1 << 31  # how far apart two ids may be for their 32 bits to tell them apart
_LOCKED = "incidents.written.locked"  # this session's batch: (its Writer, incidents read)
_FLUSHED = "incidents.written.flushed"  # ids of incidents the unit of work wrote in it


@dataclass(frozen=True, slots=True)
class Writer:
    """Where a batch ran: its transaction's full id and its server process's id."""

    transaction: int
    backend: int


@dataclass(frozen=True, slots=True)
class _Kept:
    """An incident as a committed batch left it, and the row version that batch wrote."""

    incident: Incident
    version: str  # "id:xmin", as the locking statement names a row version
    writer: Writer  # the batch that wrote it


class WrittenIncidents:
    """The incidents this writer's batches wrote, by id (the most recent ``LIMIT``)."""

    LIMIT = 1024  # a storm's groups; beyond that, the oldest are read from their rows again

    def __init__(self) -> None:
        self._kept: dict[int, _Kept] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def versions(self) -> str:
        """The row versions held, as a PostgreSQL text array literal (digits and colons only)."""
        return "{" + ",".join(kept.version for kept in self._kept.values()) + "}"

    def take(self, incident_id: int, version: str, now: Writer) -> Incident | None:
        """Return the instance held for this row version, if it is still to be trusted in the
        batch `now`; None: read the row."""
        kept = self._kept.pop(incident_id, None)
        if kept is None or kept.version != version:
            return None
        if kept.writer.backend != now.backend:  # another server process: ids mean nothing
            self.forget()
            return None
        if now.transaction - kept.writer.transaction >= _HORIZON:
            return None
        return kept.incident

    def drop(self, incident_id: int) -> None:
        """Forget an incident whose row has moved on."""
        self._kept.pop(incident_id, None)

    def forget(self) -> None:
        """Forget everything (a failed batch, or the writer stopping)."""
        self._kept.clear()

    def keep(self, session: Session) -> None:
        """After `session`'s batch committed: hold the incidents it read and the unit of work
        did not write, as the versions the batch left them."""
        locked: tuple[Writer, list[tuple[Incident, str]]] | None = session.info.get(_LOCKED)
        if locked is None:
            return
        writer, incidents = locked
        flushed: set[int] = session.info.get(_FLUSHED, set())
        rewritten = bulk.rewritten(session)
        for incident, read in incidents:
            if incident.id is None or incident.id in flushed:
                continue
            self._kept.pop(incident.id, None)  # the newest go last, the oldest leave first
            if incident.id in rewritten:
                version = f"{incident.id}:{writer.transaction & _MASK}"
            elif read.endswith(":old"):
                continue
            else:
                version = read
            self._kept[incident.id] = _Kept(incident, version, writer)
        while len(self._kept) > self.LIMIT:
            del self._kept[next(iter(self._kept))]


def note_locked(session: Session, writer: Writer, incident: Incident, version: str) -> None:
    """Record an incident the batch in `session` (run as `writer`) read or took under its
    lock, and the row version it found ("id:xmin"); from now on the session notes what its
    flushes write."""
    locked: tuple[Writer, list[tuple[Incident, str]]] | None = session.info.get(_LOCKED)
    if locked is None or locked[0] != writer:
        locked = (writer, [])
        session.info[_LOCKED] = locked
        session.info[_FLUSHED] = set()
    locked[1].append((incident, version))


@event.listens_for(Session, "before_flush")
def _note_flushed(session: Session, _context: object, _instances: object) -> None:
    """Note the incidents the unit of work is about to write (only in a noting session)."""
    flushed: set[int] | None = session.info.get(_FLUSHED)
    if flushed is None:
        return
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, Incident) and instance.id is not None:
            flushed.add(instance.id)
