"""Many processes' worth of concurrent deliveries: one incident per group, every alert once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, func, select

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.severity import Severity
from incidents.flows import intake
from incidents.store.db import build_engine
from incidents.store.models import AlertRecord, Incident
from tests.fakes import FrozenClock

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WORKERS = 50


def _alert(index: int) -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=f"fp-{index:02d}",
        group_key="storm-group",
        status=AlertStatus.FIRING,
        severity=Severity.SEV2,
        title=f"replica {index} down",
        starts_at=T0,
    )


def test_fifty_concurrent_first_deliveries_of_one_group(database_url):
    engine = build_engine(database_url, pool_size=WORKERS, max_overflow=0, pool_timeout=60)
    settings = Settings(database_url=database_url)
    clock = FrozenClock(T0 + timedelta(seconds=30))
    barrier = threading.Barrier(WORKERS)

    def deliver(index: int) -> list[int]:
        barrier.wait()
        with Session(engine, expire_on_commit=False) as session:
            result = intake.receive(
                "alertmanager",
                [_alert(index)],
                delivery_key=f"delivery-{index}",
                settings=settings,
                session=session,
                clock=clock,
            )
        return result.incidents

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            answers = list(pool.map(deliver, range(WORKERS)))
        with Session(engine) as session:
            incidents = session.exec(select(Incident)).all()
            alert_count = session.exec(select(func.count()).select_from(AlertRecord)).one()
            fingerprints = set(session.exec(select(AlertRecord.fingerprint)).all())
    finally:
        engine.dispose()
    assert len(incidents) == 1
    assert all(answer == [incidents[0].id] for answer in answers)
    assert alert_count == WORKERS
    assert fingerprints == {f"fp-{index:02d}" for index in range(WORKERS)}


def test_concurrent_identical_redeliveries_apply_once(database_url):
    engine = build_engine(database_url, pool_size=20, max_overflow=0, pool_timeout=60)
    settings = Settings(database_url=database_url)
    clock = FrozenClock(T0 + timedelta(seconds=30))
    barrier = threading.Barrier(20)

    def deliver(_: int) -> bool:
        barrier.wait()
        with Session(engine, expire_on_commit=False) as session:
            return intake.receive(
                "alertmanager", [_alert(1)], delivery_key="same", settings=settings,
                session=session, clock=clock,
            ).duplicate  # fmt: skip

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            duplicates = list(pool.map(deliver, range(20)))
        with Session(engine) as session:
            (record,) = session.exec(select(AlertRecord)).all()
    finally:
        engine.dispose()
    assert duplicates.count(False) == 1
    assert record.seen_count == 1
