"""Repository functions for SLI buckets and release checks (flush, never commit)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from incidents.store.models import ReleaseCheck, SloBucket

BUCKET = timedelta(minutes=1)


def bucket_of(at: datetime) -> datetime:
    """Return the start of the minute `at` falls in."""
    return at.replace(second=0, microsecond=0)


def upsert_buckets(session: Session, slo: str, buckets: Iterable[tuple[datetime, int, int]]) -> int:
    """Store (minute, good, total) rows; a minute already stored takes the new counts."""
    rows = [{"slo": slo, "bucket_start": start, "good": good, "total": total}
            for start, good, total in buckets]  # fmt: skip
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(SloBucket).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["slo", "bucket_start"],
        set_={"good": statement.excluded.good, "total": statement.excluded.total},
    )
    session.execute(statement)
    return len(rows)


def window_sums(
    session: Session, slo: str, *, now: datetime, windows: Sequence[timedelta]
) -> dict[timedelta, tuple[int, int]]:
    """Return (good, total) per trailing window ending now, in one indexed scan."""
    if not windows:
        return {}
    end = bucket_of(now) + BUCKET
    columns = []
    for window in windows:
        inside = col(SloBucket.bucket_start) >= end - window
        columns.append(func.coalesce(func.sum(case((inside, SloBucket.good), else_=0)), 0))
        columns.append(func.coalesce(func.sum(case((inside, SloBucket.total), else_=0)), 0))
    row = session.exec(
        select(*columns)
        .where(col(SloBucket.slo) == slo)
        .where(col(SloBucket.bucket_start) >= end - max(windows))
        .where(col(SloBucket.bucket_start) < end)
    ).one()
    values = [int(v) for v in row]
    return {w: (values[2 * i], values[2 * i + 1]) for i, w in enumerate(windows)}


def bad_between(session: Session, slo: str, *, start: datetime, end: datetime) -> int:
    """Return the bad events of an SLO between two instants (minute buckets)."""
    row = session.exec(
        select(func.coalesce(func.sum(SloBucket.total - SloBucket.good), 0))
        .where(col(SloBucket.slo) == slo)
        .where(col(SloBucket.bucket_start) >= bucket_of(start))
        .where(col(SloBucket.bucket_start) < bucket_of(end) + BUCKET)
    ).one()
    return int(row)


def latest_check(session: Session, service: str) -> ReleaseCheck | None:
    """Return the most recent release-gate verdict for a service."""
    return session.exec(
        select(ReleaseCheck)
        .where(col(ReleaseCheck.service) == service)
        .order_by(col(ReleaseCheck.checked_at).desc(), col(ReleaseCheck.id).desc())
    ).first()


def checks_between(
    session: Session, services: Sequence[str], *, start: datetime, end: datetime
) -> list[ReleaseCheck]:
    """Return the release-gate verdicts for these services in a time range, oldest first."""
    if not services:
        return []
    return list(
        session.exec(
            select(ReleaseCheck)
            .where(col(ReleaseCheck.service).in_(list(services)))
            .where(col(ReleaseCheck.checked_at) >= start)
            .where(col(ReleaseCheck.checked_at) <= end)
            .order_by(col(ReleaseCheck.checked_at), col(ReleaseCheck.id))
        ).all()
    )
