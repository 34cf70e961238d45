"""Group commit: deliveries that wait while the writer is busy share one transaction, each
answered only after that transaction commits; a failing delivery costs the others nothing."""

# ruff: noqa: ARG002 (the notifier keeps the port's signature)

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from sqlalchemy import event
from sqlmodel import Session, SQLModel, col, select

from incidents.domain.lifecycle import Event
from incidents.domain.severity import Severity
from incidents.flows import group_commit
from incidents.flows.group_commit import GroupCommitter
from incidents.flows.incidents import change_status
from incidents.flows.intake import Delivery, IntakeResult, receive
from incidents.flows.ports import NullNotifier
from incidents.store.db import build_engine
from incidents.store.models import AlertRecord, Incident, TimelineEntry
from tests.flows.test_intake import alert

WAIT = 20.0


class GateNotifier(NullNotifier):
    """Holds the writer inside its transaction until the test opens the gate; can refuse a
    group to make one delivery fail."""

    def __init__(self, *, refuse: str | None = None) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.refuse = refuse

    def incident_opened(self, session: Session, incident: Incident, *, now: datetime,
                        declared: bool) -> None:  # fmt: skip
        self._visit(incident)

    def incident_changed(self, session: Session, incident: Incident, *,
                         now: datetime) -> None:  # fmt: skip
        self._visit(incident)

    def _visit(self, incident: Incident) -> None:
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        if incident.group_key == self.refuse:
            raise RuntimeError(f"notifier refuses {incident.group_key}")


def delivery(n: int, *, group: str = "g", key: str | None = None) -> Delivery:
    return Delivery("alertmanager", [alert(f"fp-{n}", group=group)], delivery_key=key or f"d-{n}")


def stored(engine) -> tuple[list[str], list[str]]:
    with Session(engine) as session:
        fingerprints = session.exec(select(AlertRecord.fingerprint).order_by(col(AlertRecord.id)))
        groups = session.exec(select(Incident.group_key).order_by(col(Incident.id)))
        return sorted(fingerprints.all()), [g or "" for g in groups.all()]


def held_batch(committer: GroupCommitter, notifier: GateNotifier,
               deliveries: list[Delivery]) -> list[Future[IntakeResult]]:  # fmt: skip
    """Submit the first delivery, wait until the writer is inside its transaction, queue
    the rest behind it, then let it go."""
    first = committer.submit(deliveries[0], notifier)
    assert notifier.entered.wait(WAIT)
    rest = [committer.submit(d, notifier) for d in deliveries[1:]]
    assert not first.done(), "answered before its transaction committed"
    notifier.gate.set()
    futures = [first, *rest]
    done, _ = wait(futures, timeout=WAIT)
    assert len(done) == len(futures)
    return futures


def test_deliveries_waiting_behind_a_transaction_share_the_next_one(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    futures = held_batch(committer, notifier, [delivery(n, group=f"g{n % 3}") for n in range(21)])
    results = [future.result() for future in futures]
    assert committer.batches == 2, "the first delivery alone, then the 20 that waited, together"
    assert [r.alerts for r in results] == [1] * 21 and not any(r.duplicate for r in results)
    fingerprints, groups = stored(engine)
    assert fingerprints == sorted(f"fp-{n}" for n in range(21))
    assert sorted(groups) == ["g0", "g1", "g2"], "one incident per group"


def test_a_batch_holds_at_most_the_configured_number(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings.model_copy(update={"group_commit_max": 4}),
                               clock=clock)  # fmt: skip
    notifier = GateNotifier()
    held_batch(committer, notifier, [delivery(n) for n in range(9)])
    assert committer.batches == 3, "1, then 4 and 4"
    assert len(stored(engine)[0]) == 9


def test_under_load_the_writer_waits_for_more_deliveries(engine, settings, clock):
    waiting = settings.model_copy(update={"group_commit_wait_ms": 50})
    committer = GroupCommitter(engine, settings=waiting, clock=clock)
    notifier = GateNotifier()
    held_batch(committer, notifier, [delivery(n) for n in range(3)])  # 1, then 2: load
    assert committer.batches == 2
    early = committer.submit(delivery(10), notifier)
    time.sleep(0.005)  # well inside the 50 ms the writer now waits
    late = committer.submit(delivery(11), notifier)
    assert early.result(timeout=WAIT).alerts == late.result(timeout=WAIT).alerts == 1
    assert committer.batches == 3, "the later delivery joined the earlier one's batch"


def test_the_writer_waits_only_until_as_many_queue_as_its_last_batch_held(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    committer.wait = 3600.0  # were it to wait the whole time, the answers below never come
    notifier = GateNotifier()
    held_batch(committer, notifier, [delivery(n) for n in range(3)])  # 1, then 2: load
    early = committer.submit(delivery(10), notifier)
    time.sleep(0.005)
    late = committer.submit(delivery(11), notifier)
    assert early.result(timeout=WAIT).alerts == late.result(timeout=WAIT).alerts == 1
    assert committer.batches == 3, "two queued, as many as the last batch held: one batch"
    committer.wait = 0.0  # let the writer go: it waits for as many again, then for nobody
    rest = [committer.submit(delivery(n), notifier) for n in (12, 13)]
    assert [future.result(timeout=WAIT).alerts for future in rest] == [1, 1]


def test_after_quiet_a_lone_delivery_waits_for_nobody(engine, settings, clock, monkeypatch):
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    held_batch(committer, notifier, [delivery(n) for n in range(3)])  # 1, then 2: load
    deadline = time.monotonic() + WAIT
    while committer._thread is not None and time.monotonic() < deadline:  # the writer stops
        time.sleep(0.01)
    committer.wait = 3600.0
    assert committer.submit(delivery(10), notifier).result(timeout=WAIT).alerts == 1


def test_only_postgresql_waits_unless_told(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    assert committer.wait == (0.005 if engine.dialect.name == "postgresql" else 0.0)
    told = settings.model_copy(update={"group_commit_wait_ms": 0})
    assert GroupCommitter(engine, settings=told, clock=clock).wait == 0.0


@pytest.fixture
def rivals(engine, settings, clock) -> Iterator[tuple[GroupCommitter, GroupCommitter]]:
    """Two serving processes' committers on PostgreSQL: (this one, the other one)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one transaction write at a time: no two open a group at once")
    other = build_engine(settings.database_url)
    try:
        yield (GroupCommitter(engine, settings=settings, clock=clock),
               GroupCommitter(other, settings=settings, clock=clock))  # fmt: skip
    finally:
        other.dispose()


def held_first(committer: GroupCommitter) -> tuple[Future[IntakeResult], GateNotifier]:
    """Submit a delivery of group a and wait until the writer holds it in its transaction:
    what is submitted next queues for the batch after it."""
    gate = GateNotifier()
    first = committer.submit(delivery(1, group="a"), gate)
    assert gate.entered.wait(WAIT)
    return first, gate


def test_a_batch_that_loses_a_race_for_a_group_runs_again_whole(engine, rivals):
    """Two processes' writers open the same group at once: the batch that commits second
    is run again as one transaction, not redone one delivery at a time, and the other
    process never waited for it."""
    loser, winner = rivals
    first, first_gate = held_first(loser)
    holding = GateNotifier()
    racing = [loser.submit(delivery(2, group="g"), holding),
              *(loser.submit(delivery(n, group=group), NullNotifier())
                for n, group in ((3, "h"), (4, "g")))]  # fmt: skip
    first_gate.gate.set()  # the loser's next batch opens g and h, then waits in g's news
    assert holding.entered.wait(WAIT)
    won = winner.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    holding.gate.set()  # the loser's commit finds g opened by the winner
    answers = [won, *(future.result(timeout=WAIT) for future in (first, *racing))]
    assert [answer.alerts for answer in answers] == [1] * 5
    assert loser.batches == 2, "its first batch, then the racing one once more, whole"
    fingerprints, groups = stored(engine)
    assert fingerprints == [f"fp-{n}" for n in range(5)]
    assert sorted(groups) == ["a", "g", "h"], "one incident per group: g is the winner's"
    assert answers[2].incidents == answers[4].incidents == answers[0].incidents


class StepNotifier(NullNotifier):
    """Holds the writer at the n-th incident it opens, for each n it is given."""

    def __init__(self, *steps: int) -> None:
        self.opened = 0
        self.entered = {step: threading.Event() for step in steps}
        self.gates = {step: threading.Event() for step in steps}

    def incident_opened(self, session: Session, incident: Incident, *, now: datetime,
                        declared: bool) -> None:  # fmt: skip
        self.opened += 1
        if self.opened in self.gates:
            self.entered[self.opened].set()
            assert self.gates[self.opened].wait(WAIT), "the test never opened the gate"


def test_a_batch_that_keeps_losing_races_runs_until_it_wins(engine, rivals):
    """The other process opens the batch's first new group during its first run and its
    second during its second run: the third run, whole, finds both."""
    loser, winner = rivals
    first, first_gate = held_first(loser)
    steps = StepNotifier(1, 3)  # g in run one, h in run two
    racing = [loser.submit(delivery(n, group=group), steps) for n, group in ((2, "g"), (3, "h"))]
    first_gate.gate.set()
    won = []
    for step, (n, group) in ((1, (0, "g")), (3, (4, "h"))):
        assert steps.entered[step].wait(WAIT)
        won.append(winner.submit(delivery(n, group=group), NullNotifier()).result(timeout=WAIT))
        steps.gates[step].set()
    answers = [future.result(timeout=WAIT) for future in (first, *racing)]
    assert [answer.alerts for answer in (*won, *answers)] == [1] * 5
    assert loser.batches == 2, "its first batch, then the racing one, whole, in its third run"
    assert sorted(stored(engine)[1]) == ["a", "g", "h"]
    assert [answers[1].incidents, answers[2].incidents] == [won[0].incidents, won[1].incidents]


def test_batches_that_only_add_alerts_do_not_wait_for_each_other(engine, rivals):
    """Two processes' writers add alerts to the same open incident at once: the second's
    batch commits while the first still holds the incident (their locks are shared)."""
    one, other = rivals
    opened = one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    gate = GateNotifier()
    held = one.submit(delivery(1, group="g"), gate)
    assert gate.entered.wait(WAIT), "one's batch holds g's incident inside its transaction"
    try:
        beside = other.submit(delivery(2, group="g"), NullNotifier()).result(timeout=5)
        assert not held.done()
    finally:
        gate.gate.set()
    assert held.result(timeout=WAIT).incidents == beside.incidents == opened.incidents
    assert stored(engine) == (["fp-0", "fp-1", "fp-2"], ["g"])


def lock_modes(engine) -> tuple[list[str], Any]:
    """The lock modes the batches' starts ask for, in order, and the listener to remove."""
    modes: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("WITH c AS"):
            modes.append("share" if "FOR SHARE" in statement else "update")

    event.listen(engine, "before_cursor_execute", listener)
    return modes, listener


def repeat_in_one_batch(
    engine, committer: GroupCommitter, again: Delivery
) -> tuple[list[str], IntakeResult]:
    """Apply `again` in a batch of its own; return the lock modes its starts asked for."""
    modes, listener = lock_modes(engine)
    try:
        answer = committer.submit(again, NullNotifier()).result(timeout=WAIT)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return modes, answer


def statements_of(engine) -> tuple[list[str], Any]:
    """Every statement sent from now on, in order, and the listener to remove."""
    sent: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement.lstrip())

    event.listen(engine, "before_cursor_execute", listener)
    return sent, listener


@pytest.mark.parametrize("change", ["incident", "alert"])
def test_a_shared_batch_that_would_change_a_stored_row_runs_again_exclusively(
    engine, rivals, change
):
    """A louder alert raises the incident's severity, or a stored alert's: a change of a row
    read under shared locks. The batch stops before it writes anything and runs with its
    locks exclusive, and ends as one delivery at a time would."""
    one, _ = rivals
    one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    fingerprint = "fp-1" if change == "incident" else "fp-0"
    louder = Delivery("alertmanager", [alert(fingerprint, group="g", severity=Severity.SEV1)],
                      delivery_key="louder")  # fmt: skip
    sent, listener = statements_of(engine)
    try:
        modes, answer = repeat_in_one_batch(engine, one, louder)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert modes == ["share", "update"]
    starts = [n for n, statement in enumerate(sent) if statement.startswith("WITH c AS")]
    shared_run = sent[starts[0] + 1 : starts[1]]
    assert not [s for s in shared_run if s.startswith(("INSERT", "UPDATE", "WITH w0"))]
    assert answer.alerts == 1
    with Session(engine) as session:
        incident = session.exec(select(Incident)).one()
        alerts = {
            a.fingerprint: (a.seen_count, a.severity) for a in session.exec(select(AlertRecord))
        }
    assert incident.severity == Severity.SEV1.value
    if change == "incident":
        assert alerts == {"fp-0": (1, "SEV3"), "fp-1": (1, "SEV1")}
    else:
        assert alerts == {"fp-0": (2, "SEV1")}, "counted once, though its batch ran twice"


def test_a_repeat_of_a_stored_alert_keeps_its_locks_shared(engine, rivals, clock):
    """Alertmanager repeats a group's firing alerts in every notification: counting a repeat
    is an increment of the stored row, so the batch needs no exclusive lock."""
    one, _ = rivals
    one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    clock.advance(minutes=5)
    again = Delivery("alertmanager", [alert("fp-0", group="g"), alert("fp-1", group="g")],
                     delivery_key="again")  # fmt: skip
    modes, answer = repeat_in_one_batch(engine, one, again)
    assert modes == ["share"]
    assert answer.alerts == 2
    with Session(engine) as session:
        rows = {a.fingerprint: a for a in session.exec(select(AlertRecord))}
    assert {name: row.seen_count for name, row in rows.items()} == {"fp-0": 2, "fp-1": 1}
    assert rows["fp-0"].last_seen_at == clock.now() > rows["fp-0"].first_seen_at


def test_two_processes_repeating_one_alert_at_once_both_count(engine, rivals):
    """Both batches hold the incident shared and count the same alert: the second commits
    while the first still holds it, and neither count is lost (a counter written from
    what each read would end at 2)."""
    one, other = rivals
    one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    gate = GateNotifier()
    held = one.submit(delivery(0, group="g", key="again-1"), gate)
    assert gate.entered.wait(WAIT), "one's batch has read the alert's row and holds g"
    try:
        beside = other.submit(delivery(0, group="g", key="again-2"), NullNotifier())
        assert beside.result(timeout=5).alerts == 1
        assert not held.done()
    finally:
        gate.gate.set()
    assert held.result(timeout=WAIT).alerts == 1
    with Session(engine) as session:
        assert session.exec(select(AlertRecord.seen_count)).one() == 3


def test_a_batch_counting_one_alert_twice_adds_two(engine, rivals):
    """Two deliveries of one batch repeat the same stored alert: its counter moves by two."""
    one, _ = rivals
    one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    first, gate = held_first(one)
    queued = [one.submit(delivery(0, group="g", key=f"again-{n}"), NullNotifier())
              for n in (1, 2)]  # fmt: skip
    gate.gate.set()
    assert [f.result(timeout=WAIT).alerts for f in (first, *queued)] == [1, 1, 1]
    assert one.batches == 3, "the first delivery, the held one, then both repeats together"
    with Session(engine) as session:
        assert (
            session.exec(
                select(AlertRecord.seen_count).where(AlertRecord.fingerprint == "fp-0")
            ).one()
            == 3
        )


def resolve_by_hand(engine, clock, incident_id: int) -> None:
    """A responder resolves the incident (its alerts stay as they were)."""
    with Session(engine, expire_on_commit=False) as session:
        change_status(incident_id, Event.RESOLVE, actor="alice", at=None, note=None,
                      session=session, clock=clock)  # fmt: skip


def test_a_batch_moving_an_alert_to_a_new_incident_then_repeating_it_counts_both(
    engine, settings, clock
):
    """fp-0's incident was resolved by hand and Alertmanager keeps repeating fp-0: in one
    batch the first repeat opens a new incident and moves the alert there, the second counts
    a repeat."""
    one = GroupCommitter(engine, settings=settings, clock=clock)
    opened = one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    resolve_by_hand(engine, clock, opened.incidents[0])
    clock.advance(minutes=1)
    first, gate = held_first(one)
    queued = [one.submit(delivery(0, group="g", key=f"again-{n}"), NullNotifier())
              for n in (1, 2)]  # fmt: skip
    gate.gate.set()
    answers = [f.result(timeout=WAIT) for f in (first, *queued)]
    assert one.batches == 3, "the first delivery, the held one, then both repeats together"
    with Session(engine) as session:
        row = session.exec(select(AlertRecord).where(AlertRecord.fingerprint == "fp-0")).one()
    assert row.incident_id == answers[1].incidents[0] != opened.incidents[0]
    assert (row.seen_count, row.last_seen_at) == (3, clock.now())


def test_moving_an_alert_while_another_process_counts_it_loses_no_count(engine, rivals):
    """One alert (same fingerprint and start) routed to two groups: one process's batch moves
    it to h's incident while the other's counts a repeat of it in g's."""
    one, other = rivals
    one.submit(delivery(0, group="g"), NullNotifier()).result(timeout=WAIT)
    other.submit(delivery(5, group="h"), NullNotifier()).result(timeout=WAIT)
    gate = GateNotifier()
    # with a resolved alert in it, the other's batch locks exclusively from its start
    moving = other.submit(Delivery("alertmanager", [alert("fp-0", group="h"),
                                                    alert("fp-5", group="h", status="resolved",
                                                          ends=1)],
                                   delivery_key="move"), gate)  # fmt: skip
    assert gate.entered.wait(WAIT), "the other's batch has read fp-0 and holds h"
    try:
        counted = one.submit(delivery(0, group="g", key="again"), NullNotifier())
        assert counted.result(timeout=5).alerts == 1
    finally:
        gate.gate.set()
    assert moving.result(timeout=WAIT).alerts == 2
    with Session(engine) as session:
        row = session.exec(select(AlertRecord).where(AlertRecord.fingerprint == "fp-0")).one()
    assert row.seen_count == 3


@pytest.mark.parametrize("summary", ["plain", "with \x00 inside"])  # the second: ORM types
def test_a_batch_opens_its_new_groups_with_its_other_rows(engine, settings, clock, summary):
    """New groups' incidents are written with the batch's other rows: opening six asks the
    database nothing more than opening three, and every row names its own."""
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    statements: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("SET "):  # the writer's connection set up once (planned)
            statements.append(statement)

    counts = []
    event.listen(engine, "before_cursor_execute", keep)
    try:
        for size in (3, 6):
            batch = [Delivery("alertmanager", [alert(f"fp-{size}-{n}", group=f"new-{size}-{n}",
                                                     summary=summary)], delivery_key=f"{size}-{n}")
                     for n in range(size + 1)]  # fmt: skip
            statements.clear()
            held_batch(committer, GateNotifier(), batch)  # the first alone, then the others
            counts.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert counts[0] == counts[1], "each new group cost statements of its own"
    with Session(engine) as session:
        incidents = session.exec(select(Incident)).all()
        assert len(incidents) == 11
        assert {incident.summary for incident in incidents} == {summary.replace("\x00", "\ufffd")}
        group_of = {incident.id: incident.group_key for incident in incidents}
        alerts = session.exec(select(AlertRecord)).all()
        assert len(alerts) == 11
        assert all(group_of[a.incident_id] == a.group_key for a in alerts), "each in its group's"
        opened = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "opened")).all()
        assert sorted(entry.incident_id for entry in opened) == sorted(k for k in group_of if k)


def test_a_failing_delivery_costs_the_others_nothing(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier(refuse="bad")
    batch = [delivery(0), delivery(1), delivery(2, group="bad"), delivery(3), delivery(4)]
    futures = held_batch(committer, notifier, batch)
    with pytest.raises(RuntimeError, match="refuses bad"):
        futures[2].result()
    assert all(futures[n].result().alerts == 1 for n in (0, 1, 3, 4))
    fingerprints, groups = stored(engine)
    assert fingerprints == ["fp-0", "fp-1", "fp-3", "fp-4"], "nothing of the failed one"
    assert groups == ["g"]


def test_a_redelivery_in_the_same_batch_is_a_duplicate(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    same = delivery(1, key="once")
    futures = held_batch(committer, notifier, [delivery(0), same, same, same])
    results = [future.result() for future in futures]
    assert [r.duplicate for r in results] == [False, False, True, True]
    assert results[2].incidents == results[1].incidents
    assert stored(engine)[0] == ["fp-0", "fp-1"]


def test_a_delivery_whose_sender_left_before_its_turn_is_not_applied(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    first = committer.submit(delivery(0), notifier)
    assert notifier.entered.wait(WAIT)
    gone = committer.submit(delivery(1), notifier)
    assert gone.cancel()
    notifier.gate.set()
    assert first.result(timeout=WAIT).alerts == 1
    assert stored(engine)[0] == ["fp-0"]


def test_senders_on_an_event_loop_are_each_answered_with_their_own_result(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    notifier.gate.set()

    async def send_all() -> list[IntakeResult]:
        deliveries = [delivery(n, group=f"g{n % 3}") for n in range(10)]
        return await asyncio.gather(*(committer.apply(d, notifier) for d in deliveries))

    results = asyncio.run(send_all())
    assert [r.incidents for r in results] == [[1], [2], [3]] * 3 + [[1]]
    assert stored(engine)[0] == [f"fp-{n}" for n in range(10)]


def test_an_event_loop_sender_that_left_before_its_turn_is_not_applied(engine, settings, clock):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()

    async def leave_early() -> IntakeResult:
        first = asyncio.create_task(committer.apply(delivery(0), notifier))
        assert await asyncio.to_thread(notifier.entered.wait, WAIT)
        gone = asyncio.create_task(committer.apply(delivery(1), notifier))
        await asyncio.sleep(0)  # queued behind the held transaction
        gone.cancel()
        notifier.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await first

    assert asyncio.run(leave_early()).alerts == 1
    assert stored(engine)[0] == ["fp-0"]


def test_the_writer_thread_stops_when_idle_and_starts_again(engine, settings, clock, monkeypatch):
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    notifier.gate.set()

    def writers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "group-commit" and t.is_alive()]

    assert committer.submit(delivery(0), notifier).result(timeout=WAIT).alerts == 1
    for thread in writers():
        thread.join(timeout=WAIT)
    assert writers() == []
    assert committer.submit(delivery(1), notifier).result(timeout=WAIT).alerts == 1
    assert stored(engine)[0] == ["fp-0", "fp-1"]


class BackendNotifier(NullNotifier):
    """Notes which PostgreSQL server process ran each batch that opened an incident."""

    def __init__(self) -> None:
        self.backends: list[int] = []

    def incident_opened(self, session: Session, incident: Incident, *, now: datetime,
                        declared: bool) -> None:  # fmt: skip
        pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        self.backends.append(int(pid))


def test_after_a_quiet_second_the_writer_takes_up_its_warm_connection(
    engine, settings, clock, monkeypatch
):
    """Ordinary traffic has gaps longer than the writer's idle time: its connection goes
    back to the pool, not away (a new one cost each delivery 16-19 ms instead of 9)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server process to keep")
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = BackendNotifier()
    for n in range(3):
        assert committer.submit(delivery(n, group=f"g{n}"), notifier).result(timeout=WAIT)
        for thread in threading.enumerate():
            if thread.name == "group-commit":
                thread.join(timeout=WAIT)  # the writer stopped: idle
    assert len(notifier.backends) == 3
    assert len(set(notifier.backends)) == 1, "one server process served all three"


def scenario() -> list[Delivery]:
    """Repeats, resolutions, a flapping group that reopens, a re-fired alert, a sender's
    acknowledgement and a group with no incident — each group's deliveries in order."""
    steps = [
        ("g1", [alert("a1", group="g1")]),
        ("g1", [alert("a1", group="g1")]),  # the same alert again, another delivery
        ("g2", [alert("b1", group="g2", severity=Severity.SEV2)]),
        ("g1", [alert("a2", group="g1", starts=1)]),
        ("g1", [alert("a1", group="g1", status="resolved", ends=2)]),
        ("g2", [alert("b1", group="g2", status="resolved", ends=3)]),  # g2 resolves
        ("g2", [alert("b1", group="g2", starts=4)]),  # and fires again: reopened
        ("g1", [alert("a1", group="g1")]),  # a1 fires again with its old start
        ("g3", [alert("c1", group="g3", status="acknowledged")]),  # no incident: nothing
        ("g4", [alert("d1", group="g4")]),
        ("g4", [alert("d1", group="g4", status="acknowledged")]),
        ("g1", [alert("a1", group="g1", status="resolved", ends=5),
                alert("a2", group="g1", status="resolved", starts=1, ends=6)]),
    ]  # fmt: skip
    return [Delivery("alertmanager", alerts, delivery_key=f"s-{n}")
            for n, (_, alerts) in enumerate(steps)]  # fmt: skip


def snapshot(engine) -> dict[str, Any]:
    """Return what the database says, keyed by group rather than by id."""
    with Session(engine) as session:
        incidents = session.exec(select(Incident).order_by(col(Incident.id))).all()
        group_of = {i.id: i.group_key for i in incidents}
        alerts = session.exec(select(AlertRecord).order_by(col(AlertRecord.fingerprint))).all()
        entries = session.exec(select(TimelineEntry).order_by(col(TimelineEntry.id))).all()
        return {
            "incidents": sorted((i.group_key or "", i.status, i.severity, i.acknowledged_at,
                                 i.mitigated_at, i.resolved_at) for i in incidents),
            "alerts": [(a.fingerprint, group_of[a.incident_id], a.status, a.seen_count,
                        a.starts_at, a.ends_at) for a in alerts],
            "timeline": {group: [e.kind for e in entries if group_of[e.incident_id] == group]
                         for group in sorted(set(group_of.values()), key=str)},
        }  # fmt: skip


def empty(engine) -> None:
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


def one_at_a_time(engine, deliveries: list[Delivery], *, settings, clock) -> dict[str, Any]:
    """Apply each delivery in its own transaction; return the end state and empty the db."""
    for delivery_ in deliveries:
        with Session(engine, expire_on_commit=False) as session:
            receive(delivery_.source, delivery_.alerts, delivery_key=delivery_.delivery_key,
                    settings=settings, session=session, clock=clock)  # fmt: skip
    state = snapshot(engine)
    empty(engine)
    return state


def test_a_batch_ends_where_one_delivery_at_a_time_ends(engine, settings, clock):
    clock.advance(minutes=8)  # g2 resolves at 9:03, within the 10-minute reopen window
    one_by_one = one_at_a_time(engine, scenario(), settings=settings, clock=clock)

    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    first, *rest = scenario()
    futures = held_batch(committer, notifier, [first, *rest])
    assert all(future.exception() is None for future in futures)
    assert committer.batches == 2, "the first alone, the other eleven in one transaction"
    assert snapshot(engine) == one_by_one
    assert [i[:2] for i in one_by_one["incidents"]] == [
        ("g1", "resolved"),
        ("g2", "triggered"),
        ("g4", "acknowledged"),
    ]
    assert "reopened" in one_by_one["timeline"]["g2"]


def test_a_bug_in_the_writer_answers_its_senders_and_the_next_batch_still_runs(
    engine, settings, clock, monkeypatch
):
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    notifier = GateNotifier()
    notifier.gate.set()

    def broken(_delivery: Delivery) -> str:
        raise RuntimeError("sorting broke")

    with monkeypatch.context() as patch:
        patch.setattr(Delivery, "first_group", broken)
        with pytest.raises(RuntimeError, match="sorting broke"):
            committer.submit(delivery(0), notifier).result(timeout=WAIT)
    assert committer.submit(delivery(1), notifier).result(timeout=WAIT).alerts == 1
    assert stored(engine)[0] == ["fp-1"]


FINGERPRINTS = {"a1": "g1", "a2": "g1", "b1": "g2", "c1": "g3"}  # each alert keeps its group
STEP = st.tuples(
    st.sampled_from(sorted(FINGERPRINTS)),
    st.sampled_from(["firing", "firing", "resolved", "acknowledged"]),
    st.integers(min_value=0, max_value=2),  # start minute: a new start is a new alert
    st.sampled_from([Severity.SEV2, Severity.SEV3]),
)


def _deliveries(steps: list[tuple[str, str, int, Severity]]) -> list[Delivery]:
    alerts = [alert(fp, group=FINGERPRINTS[fp], status=status, starts=start, severity=severity,
                    ends=start + 1 if status == "resolved" else None)
              for fp, status, start, severity in steps]  # fmt: skip
    return [Delivery("alertmanager", [a], delivery_key=f"h-{n}") for n, a in enumerate(alerts)]


@settings_(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(STEP, min_size=1, max_size=10))
def test_any_batch_ends_where_one_delivery_at_a_time_ends(engine, settings, clock, steps):
    opener = alert("a1", group="g1")  # holds the writer while the rest queue behind it
    deliveries = [Delivery("alertmanager", [opener], delivery_key="h-open"), *_deliveries(steps)]
    empty(engine)
    one_by_one = one_at_a_time(engine, deliveries, settings=settings, clock=clock)
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    futures = held_batch(committer, GateNotifier(), deliveries)
    assert all(future.exception() is None for future in futures)
    assert snapshot(engine) == one_by_one


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux's scheduling policies")
def test_the_writer_thread_yields_to_the_event_loop_and_only_it(engine, settings, clock):
    """The writer runs as a batch thread (no preempting the loop when it wakes); the
    threads that serve requests keep their policy."""
    committer = GroupCommitter(engine, settings=settings, clock=clock)
    policies: list[int] = []

    class Watching(NullNotifier):
        def incident_opened(self, session: Session, incident: Incident, *, now: datetime,
                            declared: bool) -> None:  # fmt: skip
            policies.append(os.sched_getscheduler(0))  # on the writer thread

    assert committer.submit(delivery(0), Watching()).result(timeout=WAIT).alerts == 1
    assert policies == [os.SCHED_BATCH]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
