"""Group commit: one writer thread applies concurrent webhook deliveries in one transaction.

Why: under an alert storm every delivery paid its own BEGIN, commit (a WAL append; an
fsync on PostgreSQL), session and a turn at SQLite's single write lock, handed from thread
to thread. Here deliveries that arrive while the writer is busy wait in a queue and the
next transaction takes them all (up to ``INCIDENTS_GROUP_COMMIT_MAX``). Each sender is
answered only after the commit that holds its alerts: nothing is acknowledged before it
is durable, so a crash loses only unanswered deliveries, which the sender retries.

A batch runs without savepoints (they cost a round trip each). When it loses a race to
another process (that process opened one of its groups first, or a deadlock on
PostgreSQL), it is rolled back and run again, whole (up to ``RACE_ATTEMPTS`` runs). On
PostgreSQL a batch whose alerts all fire takes its incidents' locks shared (``only_adds``);
if it turns out to change a stored row it is run again at once with them exclusive. When
anything else fails (a sender's bad luck), or the last run fails too, each delivery is
redone alone in its own guarded transaction, so one bad delivery never costs the others
their answer.

A request on the event loop waits with ``apply``: the writer wakes each event loop once per
batch (one cross-thread call) instead of once per delivery.

The writer thread exists only while there is work: it stops after a short idle time and
the next delivery starts it again, so an app that is never shut down leaks no thread. While
it runs on PostgreSQL it keeps one connection for its batches (``_Held``), given back to
the pool when it stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.alert import AlertStatus
from incidents.flows.intake import (
    Delivery,
    IntakeResult,
    apply_delivery,
    identities,
    replayed,
)
from incidents.flows.ports import Clock, Notifier
from incidents.store import bulk, checkpoints, planned
from incidents.store import intake as intake_store
from incidents.store.written import WrittenIncidents

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _Job:
    """One delivery, who to tell about it, and where its answer goes (and which event loop
    waits for it, if one does)."""

    delivery: Delivery
    notifier: Notifier
    future: Future[IntakeResult]
    waiter: asyncio.Future[IntakeResult] | None = None


class GroupCommitter:
    """Apply deliveries from many requests through one writer, many per transaction."""

    def __init__(self, engine: Engine, *, settings: Settings, clock: Clock) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.max_batch = settings.group_commit_max
        self.wait = _wait_seconds(settings.group_commit_wait_ms, engine)
        self._last_size = 0  # the previous batch's deliveries: more than one means load
        # PostgreSQL: this writer's row per incident for timeline touches (store/bulk). With
        # the touches apart, batches that only add alerts lock their incidents shared
        # (``only_adds``): a touch then updates no incident row.
        self.slot = settings.worker_index if engine.dialect.name == "postgresql" else None
        self.batches = 0  # transactions committed (tests and the benchmark read it)
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._enough = threading.Event()  # set when the queue holds what the writer awaits
        self._awaited = 0  # queued jobs the writer waits for; 0: it does not wait

    def submit(self, delivery: Delivery, notifier: Notifier) -> Future[IntakeResult]:
        """Queue a delivery; the future resolves after its transaction commits."""
        job = _Job(delivery, notifier, Future())
        self._enqueue(job)
        return job.future

    async def apply(self, delivery: Delivery, notifier: Notifier) -> IntakeResult:
        """Queue a delivery from the event loop and wait until its transaction commits."""
        job = _Job(delivery, notifier, Future(), asyncio.get_running_loop().create_future())
        self._enqueue(job)
        assert job.waiter is not None
        try:
            return await job.waiter
        except asyncio.CancelledError:  # the sender left: skip it if its turn has not come
            job.future.cancel()
            raise

    def _enqueue(self, job: _Job) -> None:
        """Queue a job, starting the writer thread if it is not running."""
        with self._lock:
            self._queue.put(job)
            if self._awaited and self._queue.qsize() >= self._awaited:
                self._awaited = 0
                self._enough.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """Take batches until the queue stays empty for a while."""
        yield_on_wake_up()
        held = _Held(self.engine, prepare=self.settings.prepared_statements)
        try:
            while (jobs := self._take()) is not None:
                live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
                try:
                    self._apply(live, held)
                except Exception as exc:  # noqa: BLE001 (a bug here must not hang every sender)
                    log.exception("group commit writer failed; answering its batch with the error")
                    for job in live:
                        if not job.future.done():
                            job.future.set_exception(exc)
                finally:
                    _wake(jobs)
        finally:
            held.release()

    def _take(self) -> list[_Job] | None:
        """Wait for a job (under load, for company first), then take whatever else is
        already waiting; None when idle."""
        self._await_company()
        try:
            first = self._queue.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._thread = None
                    self._last_size = 0  # quiet: the next delivery waits for nobody
                    return None
            return []
        jobs = [first]
        while len(jobs) < self.max_batch:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._last_size = len(jobs)
        return jobs

    def _await_company(self) -> None:
        """Under load, wait (at most ``wait``) until as many deliveries queue as the last
        batch held.

        Why until that many, not a fixed pause: under a steady load the senders answered by
        one batch send their next deliveries together, and a fixed 1 ms took 11 of 16 on
        average; waiting for the last batch's number filled batches (15.5 of 16) and cut
        CPU per delivery on PostgreSQL by 10-15% (``tests/bench/ingest.py``'s load). A
        batch still grows when more arrive, and a lone delivery after quiet never waits.

        Why the wait starts when the last batch ends, not when the next delivery arrives:
        the writer then slept in the queue's ``get``, and the first delivery's ``put`` woke
        it only for it to wait again for the rest, two hand-overs per batch between threads
        that share one CPU and one GIL (the ``put`` alone took 5% of the event loop's time).
        Now only the delivery that completes the batch wakes it. No delivery waits longer
        than before: at most ``wait`` after the last batch, and none once that has passed.
        """
        if not self.wait or self._last_size < 2:
            return
        wanted = min(self._last_size, self.max_batch)
        with self._lock:
            if self._queue.qsize() >= wanted:
                return
            self._enough.clear()
            self._awaited = wanted
        self._enough.wait(self.wait)
        with self._lock:
            self._awaited = 0

    def _apply(self, jobs: list[_Job], held: _Held) -> None:
        """Apply a batch in one transaction; on any failure, each delivery alone."""
        if not jobs:
            return
        # One order for the group locks every batch takes, so two processes' batches on
        # PostgreSQL queue behind each other instead of deadlocking.
        ordered = sorted(jobs, key=lambda job: job.delivery.first_group())
        shared = self.slot is not None and only_adds([job.delivery for job in ordered])
        attempt = 0
        while True:
            try:
                results = self._in_one_transaction(ordered, held.get(), held.written,
                                                   shared=shared)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 (any failure: fall back, each delivery alone)
                held.written.forget()  # its instances hold what was rolled back
                if shared and isinstance(exc, intake_store.NeedsExclusive):
                    log.debug("batch of %d changes stored rows; applying it exclusively", len(jobs))
                    shared = False
                    continue
                attempt += 1
                if attempt < RACE_ATTEMPTS and lost_a_race(exc):
                    log.debug("batch of %d lost a race; applying it again", len(jobs))
                    continue
                log.debug("batch of %d failed; applying its deliveries one by one", len(jobs),
                          exc_info=True)  # fmt: skip
                held.drop()  # a broken connection must not serve the next batch
                for job in ordered:
                    self._alone(job)
                return
            for job, result in zip(ordered, results, strict=True):
                job.future.set_result(result)
            return

    def _in_one_transaction(
        self, jobs: list[_Job], bind: Engine | Connection, written: WrittenIncidents | None = None,
        *, shared: bool = False,
    ) -> list[IntakeResult]:  # fmt: skip
        """Apply every job unguarded and commit once.

        The batch's open incidents (locked in group order) and its alerts' stored rows are
        fetched first, in a few statements. Without autoflush the batch's inserts and
        updates go to the database together at commit (a few multi-row statements instead
        of three per delivery); the intake's look-ups see the batch's own unflushed alerts
        and open incidents (store/intake). `written` holds the incidents earlier batches
        committed, and takes this batch's once it has committed (store/written). A `shared`
        batch takes its incidents' locks shared (store/intake.start_batch).
        """
        with Session(bind, expire_on_commit=False) as session:
            bulk.enable(session, slot=self.slot)  # no savepoints: new rows wait for one insert
            with session.no_autoflush:
                deliveries = [job.delivery for job in jobs]
                groups, fingerprints = identities(deliveries)
                now = self.clock.now()
                claims = intake_store.start_batch(
                    session, [(d.source, d.delivery_key, d.memory) for d in deliveries],
                    now=now, groups=groups, fingerprints=fingerprints,
                    reopen_since=now - self.settings.reopen_window, written=written,
                    shared=shared,
                )  # fmt: skip
                answers: list[tuple[intake_store.Claim, dict[str, Any]]] = []
                results = self._apply_claimed(jobs, claims, session, answers)
                intake_store.record_results(session, answers)
            session.commit()
            if written is not None:
                written.keep(session)
        self.batches += 1
        return results

    def _apply_claimed(
        self, jobs: list[_Job], claims: list[intake_store.Claim | None], session: Session,
        answers: list[tuple[intake_store.Claim, dict[str, Any]]],
    ) -> list[IntakeResult]:  # fmt: skip
        """Apply each claimed job; a repeat within the batch is answered as its first was."""
        results: list[IntakeResult] = []
        first: dict[tuple[str, str], IntakeResult] = {}
        for job, claim in zip(jobs, claims, strict=True):
            key = (job.delivery.source, job.delivery.delivery_key)
            if claim is None:
                results.append(replayed(first[key].as_stored(), count=len(job.delivery.alerts)))
                continue
            result = apply_delivery(job.delivery, settings=self.settings, session=session,
                                    clock=self.clock, notifier=job.notifier, guarded=False,
                                    claim=claim, answers=answers)  # fmt: skip
            first[key] = result
            results.append(result)
        return results

    def _alone(self, job: _Job) -> None:
        """Apply one job in its own guarded transaction and answer it, success or error."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                result = self._apply_one(job, session, guarded=True)
                session.commit()
        except Exception as exc:  # noqa: BLE001 (the request that sent it raises it)
            job.future.set_exception(exc)
            return
        self.batches += 1
        job.future.set_result(result)

    def _apply_one(self, job: _Job, session: Session, *, guarded: bool) -> IntakeResult:
        """Apply one delivery in the session's transaction."""
        return apply_delivery(job.delivery, settings=self.settings, session=session,
                              clock=self.clock, notifier=job.notifier, guarded=guarded)  # fmt: skip


def only_adds(deliveries: list[Delivery]) -> bool:
    """Whether a batch may take its incidents' locks shared: every alert in it fires.

    Why: under a storm two serving processes' batches add alerts to the same few dozen
    incidents, and with the locks exclusive each waited for the other's commit (13% of the
    writers' server time waiting for a lock, a tenth of the two cores idle: A/B runs of
    ``tests/bench/ingest.py``'s load, two workers). Firing alerts only add rows, and count
    repeats of stored ones by increments (store/bulk.count_repeat), unless one raises the
    incident's or a stored alert's severity, fires again after resolving, or moves from an
    older incident: the batch then stops before writing (store/intake.NeedsExclusive) and
    runs again with exclusive locks. Resolved and acknowledged alerts change incidents:
    their batches lock exclusively.
    """
    return all(alert.status is AlertStatus.FIRING
               for delivery in deliveries for alert in delivery.alerts)  # fmt: skip


def yield_on_wake_up() -> None:
    """Keep the calling thread (the writer) from preempting the event loop when it wakes
    (Linux's ``SCHED_BATCH``: the same share of the CPU, no wake-up preemption).

    Why: the writer wakes many times a batch (each PostgreSQL answer, each SQLite step that
    let go of the GIL, the delivery that completes its batch), and the serving process
    keeps both threads on one CPU (incidents/serving.py). Each wake-up preempted the event
    loop, only for the writer to find the GIL held by the loop and wait for it: two context
    switches for nothing, and a switch is dear on a virtual machine. As a batch thread the
    writer runs when the loop blocks (on the network, or letting the GIL go) or its time
    slice ends. A/B runs of ``tests/bench/ingest.py``'s load, each configuration in each
    server slot: 5% more deliveries a second on PostgreSQL (2 workers), 18-20% on SQLite
    (1 process). Elsewhere, or where the policy cannot be set, nothing changes.
    """
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_BATCH"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))  # 0: this thread (Linux)
    except OSError:  # a sandbox may refuse it; the writer then runs as before
        log.debug("could not make the writer a batch thread", exc_info=True)


# SQLSTATEs of a transaction that lost to a concurrent one and may simply run again:
# unique_violation (another process opened the same group first), serialization_failure,
# deadlock_detected.
RACES = frozenset({"23505", "40001", "40P01"})
# Runs of a batch that keeps losing races. Why more than two: new incidents are written at
# the batch's end, so at a storm's onset both processes' batches open the same new groups
# side by side; a second run can meet the other process's next batch and lose again
# (seen: the one-by-one redo then held 13 senders 200 ms). Each loss means the other
# transaction committed, so the runs make progress.
RACE_ATTEMPTS = 4


def lost_a_race(error: BaseException) -> bool:
    """Whether a batch failed only because another transaction got there first.

    Why a second try of the whole batch: at a storm's onset every group is new, and both
    serving processes' batches open the same groups at once. The loser's batch used to be
    redone one delivery at a time, each in its own transaction (a commit, and on PostgreSQL
    an fsync, apiece): 16 deliveries took 100-150 ms while the worker's other senders
    waited: most of the ingest benchmark's p99 tail. Run again, the batch finds the winner's
    incidents committed and takes them. The server answered, so the connection is kept.
    """
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return state in RACES and not getattr(error, "connection_invalidated", False)


def _wait_seconds(milliseconds: float | None, engine: Engine) -> float:
    """The longest a batch waits for company under load: the setting, else the backend's own.

    Why PostgreSQL waits (at most 5 ms): a batch's fixed cost there (its statements' round
    trips, parse and plan, the commit) is several times a delivery's, and without waiting
    batches held 4-6 deliveries under a storm. Waiting for company raised PostgreSQL's
    throughput by a fifth to a third and cut CPU per delivery as much (A/B runs of
    ``tests/bench/ingest.py``'s load, two workers; ``_await_company`` says until when).
    SQLite's batches are cheap: waiting cost it 14%, so it does not wait. Only a batch
    after a batch of several waits: a lone delivery is never delayed.
    """
    if milliseconds is not None:
        return milliseconds / 1000
    return 0.005 if engine.dialect.name == "postgresql" else 0.0


class _Held:
    """The writer thread's connection, kept from batch to batch while the thread runs (on
    PostgreSQL, or a SQLite database file), and the incidents its batches wrote
    (``written``, store/written).

    Why: checking a connection out of the pool for every batch cost a round trip (the
    pool's liveness ping) and the pool's bookkeeping, one statement in ten of a batch.
    SQLite has no ping to save, but while held the connection leaves its WAL checkpoints
    to a thread of its own (store/checkpoints). An in-memory SQLite database lives in its
    one shared connection, so there each batch checks out as before. A batch that fails
    drops the connection, so a broken one never serves the next. When the thread stops it
    gives the connection back to the pool, warm, for the next writer: closed instead, every
    delivery after a second of quiet (ordinary traffic, not a storm) paid a new connection
    and a new server process with empty caches, 16-19 ms instead of 9. If the engine was
    disposed meanwhile the connection is closed for good (a disposed pool would never
    close it).
    """

    def __init__(self, engine: Engine, *, prepare: bool = True) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.keep = not self.sqlite or not isinstance(engine.pool, StaticPool)
        self.prepare = prepare  # its batch statements prepared and planned once (store/planned)
        self.connection: Connection | None = None
        self._checkpoints: tuple[checkpoints.Checkpointer, int] | None = None
        self._pool: object = None  # the pool the connection came from
        self.written = WrittenIncidents()

    def get(self) -> Engine | Connection:
        """Return what the next batch's session binds to."""
        if not self.keep:
            return self.engine
        if self.connection is None or self.connection.closed or self.connection.invalidated:
            self.connection = self.engine.connect()
            self._pool = self.engine.pool
            if self.prepare:
                planned.hold(self.connection)
            if self.sqlite:
                self._checkpoints = checkpoints.take_over(self._driver())
        return self.connection

    def _driver(self) -> Any:
        """The held connection's driver connection."""
        assert self.connection is not None
        return self.connection.connection.driver_connection

    def _hand_back_checkpoints(self, *, restore: bool) -> None:
        """Stop the checkpoint thread; give the held connection its own checkpoints again."""
        taken, self._checkpoints = self._checkpoints, None
        if taken is not None:
            checkpoints.hand_back(self._driver() if restore else None, taken)

    def release(self) -> None:
        """Give the connection back to its pool, or close it if that pool is gone."""
        self.written.forget()  # the next writer starts from the rows
        if self.connection is None:
            return
        if self.engine.pool is not self._pool:  # disposed since: nobody would close it
            self.drop()
            return
        try:
            self._hand_back_checkpoints(restore=True)
        except Exception:  # noqa: BLE001 (it goes away for good below)
            log.debug("giving the writer's connection its checkpoints back failed", exc_info=True)
            self.drop()
            return
        connection, self.connection = self.connection, None
        try:
            planned.release(connection)  # as the pool hands connections out
            connection.close()  # back to the pool, its server process warm
        except Exception:  # noqa: BLE001 (a broken connection cannot go back; it is gone)
            log.debug("returning the writer's connection failed", exc_info=True)
            _close_for_good(connection)

    def drop(self) -> None:
        """Close the held connection for good."""
        self.written.forget()
        self._hand_back_checkpoints(restore=False)
        if self.connection is not None:
            connection, self.connection = self.connection, None
            _close_for_good(connection)


def _close_for_good(connection: Connection) -> None:
    """Close a connection and its driver's connection, never to be pooled again."""
    try:
        connection.invalidate()  # closes the driver's connection now
        connection.close()
    except Exception:  # noqa: BLE001 (closing a broken connection may fail; it is gone)
        log.debug("closing the writer's connection failed", exc_info=True)


def _wake(jobs: list[_Job]) -> None:
    """Hand the batch's answers to the event loops that wait for them, one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        if job.waiter is not None:
            by_loop.setdefault(job.waiter.get_loop(), []).append(job)
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_waiters, waiting)
        except RuntimeError:  # that loop has closed: nobody is waiting any more
            log.debug("event loop closed before its %d answers", len(waiting))


def _settle_waiters(jobs: list[_Job]) -> None:
    """Copy each job's answer to its waiter (runs on the waiter's event loop)."""
    for job in jobs:
        waiter = job.waiter
        if waiter is None or waiter.done():
            continue
        if job.future.cancelled():
            waiter.cancel()
        elif not job.future.done():  # cannot happen: every job taken is answered
            waiter.set_exception(RuntimeError("the group-commit writer gave no answer"))
        elif (error := job.future.exception(timeout=0)) is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(job.future.result(timeout=0))
