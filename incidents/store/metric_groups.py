"""Per-group durations for MTTx: every value of every metric, sorted, plus exclusion counts.

Two ways to get them, same result:

- PostgreSQL groups in the database and packs each group's durations into one ``bytea``
  (``string_agg(float8send(d), '')``), so a million incidents arrive as a few rows of raw
  doubles that numpy reads without a Python object per value;
- other databases (SQLite) stream one scan (``store.metrics``) and numpy partitions it.

Durations are rounded to milliseconds on both paths, so both give identical figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import LargeBinary, Select, case, func, literal, literal_column, null, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from incidents.domain import metrics as stats
from incidents.domain.lifecycle import ImpactSource, Status
from incidents.domain.metrics import METRICS, Metric
from incidents.store.metrics import (
    KEY_COLUMNS,
    DurationTable,
    MetricFilter,
    conditions,
    load_durations,
)
from incidents.store.models import Incident

Values = npt.NDArray[np.float64]
PERIOD_FORMATS = {"week": "YYYY-MM-DD", "month": "YYYY-MM", "quarter": 'YYYY-"Q"Q'}


@dataclass(frozen=True, slots=True)
class GroupData:
    """One group: its key values, counts, and per metric the sorted values and exclusions."""

    key: tuple[str | None, ...]
    incidents: int
    open: int
    values: dict[str, Values]
    excluded: dict[str, dict[str, int]]


def load_groups(
    session: Session, *, where: MetricFilter, group_by: Sequence[str]
) -> list[GroupData]:
    """Return every group's data for the window and filters."""
    if session.get_bind().dialect.name == "postgresql":
        return _postgres_groups(session, where=where, group_by=group_by)
    return groups_from_table(load_durations(session, where=where, group_by=group_by))


def groups_from_table(table: DurationTable) -> list[GroupData]:
    """Partition a scanned table by group code and sort each group's values."""
    count = len(table.keys)
    by_group = np.argsort(table.codes, kind="stable")
    bounds = np.searchsorted(table.codes[by_group], np.arange(count + 1))
    parts = {m.name: _sorted_by_group(table, m, by_group, bounds) for m in METRICS}
    incidents = np.bincount(table.codes, minlength=count)
    still_open = np.bincount(table.codes[~table.resolved], minlength=count)
    return [
        GroupData(
            key=table.keys[code],
            incidents=int(incidents[code]),
            open=int(still_open[code]),
            values={name: parts[name][code][0] for name in parts},
            excluded={name: parts[name][code][1] for name in parts},
        )
        for code in range(count)
    ]


def _sorted_by_group(
    table: DurationTable,
    metric: Metric,
    by_group: npt.NDArray[np.intp],
    bounds: npt.NDArray[np.intp],
) -> list[tuple[Values, dict[str, int]]]:
    """Return, per group code, the metric's sorted values and its exclusions by reason."""
    values = table.durations[:, METRICS.index(metric)]
    missing = np.isnan(values)
    if metric.name == "time_to_detect":
        values = np.where(table.defaulted, np.nan, values)
    grouped = values[by_group]
    masks = _exclusion_masks(table, metric, missing)
    reasons = {r: np.bincount(table.codes[m], minlength=len(table.keys)) for r, m in masks.items()}
    parts: list[tuple[Values, dict[str, int]]] = []
    for code in range(len(table.keys)):
        ordered = np.sort(grouped[bounds[code] : bounds[code + 1]])  # NaN sorts last
        kept = ordered[: int(np.count_nonzero(~np.isnan(ordered)))]
        parts.append((kept, {reason: int(counts[code]) for reason, counts in reasons.items()}))
    return parts


def _exclusion_masks(
    table: DurationTable, metric: Metric, missing: npt.NDArray[np.bool_]
) -> dict[str, npt.NDArray[np.bool_]]:
    """Return, per exclusion reason, which incidents it applies to."""
    if metric.name == "time_to_detect":
        return {stats.DEFAULTED: table.defaulted & ~missing}
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for resolved in (True, False):
        reason = stats.exclusion(metric, has_end=False, resolved=resolved, impact_defaulted=False)
        if reason is not None:
            mask = missing & (table.resolved if resolved else ~table.resolved)
            masks[reason] = masks.get(reason, np.zeros_like(mask)) | mask
    return masks


def _postgres_groups(
    session: Session, *, where: MetricFilter, group_by: Sequence[str]
) -> list[GroupData]:
    """Group in PostgreSQL; read each group's durations from one bytea per metric."""
    statement, reasons = _postgres_statement(where=where, group_by=group_by)
    width = len(group_by)
    groups = []
    for row in session.execute(statement):
        if not row[width]:
            continue  # without GROUP BY keys an empty window still yields one all-zero row
        packed = row[width + 2 : width + 2 + len(METRICS)]
        counts = iter(row[width + 2 + len(METRICS) :])
        groups.append(
            GroupData(
                key=tuple(row[:width]),
                incidents=int(row[width]),
                open=int(row[width + 1]),
                values={m.name: _doubles(packed[i]) for i, m in enumerate(METRICS)},
                excluded={m.name: {r: int(next(counts)) for r in reasons[m.name]} for m in METRICS},
            )
        )
    return groups


def _doubles(packed: bytes | None) -> Values:
    """Read big-endian doubles (float8send) into sorted seconds, rounded to milliseconds."""
    values = np.frombuffer(packed or b"", dtype=">f8").astype(np.float64)
    return np.sort(np.round(values, 3))


def _postgres_statement(
    *, where: MetricFilter, group_by: Sequence[str]
) -> tuple[Select[Any], dict[str, list[str]]]:
    """Build the grouped statement and the exclusion reasons its trailing columns count."""
    resolved = col(Incident.status) == Status.RESOLVED.value
    defaulted = col(Incident.impact_started_source) == ImpactSource.DEFAULTED.value
    keys = [_postgres_key(name) for name in group_by]
    packed = [_packed(metric, defaulted) for metric in METRICS]
    reasons: dict[str, list[str]] = {}
    counted: list[Any] = []
    for metric in METRICS:
        for reason, condition in _exclusion_conditions(metric, resolved, defaulted):
            reasons.setdefault(metric.name, []).append(reason)
            counted.append(func.count().filter(condition))
        reasons.setdefault(metric.name, [])
    totals = [func.count(), func.count().filter(~resolved)]
    statement = select(*keys, *totals, *packed, *counted).where(*conditions(where, scan=False))
    return statement.group_by(*keys), reasons


def _postgres_key(name: str) -> ColumnElement[Any]:
    """Return a grouping key: a column, or a UTC period label (2026-11-23, 2026-11, 2026-Q4)."""
    if name in KEY_COLUMNS:
        column: ColumnElement[Any] = KEY_COLUMNS[name]
        return column
    utc = func.timezone("UTC", Incident.detected_at)
    return func.to_char(func.date_trunc(name, utc), PERIOD_FORMATS[name])


def _packed(metric: Metric, defaulted: ColumnElement[bool]) -> ColumnElement[Any]:
    """Return all of a group's durations of `metric` as one bytea of doubles."""
    start: Any = getattr(Incident, metric.start)
    end: Any = getattr(Incident, metric.end)
    seconds: Any = func.date_part("epoch", end - start)
    if metric.name == "time_to_detect":
        seconds = case((defaulted, null()), else_=seconds)
    return func.string_agg(func.float8send(seconds), literal(b"", LargeBinary), type_=LargeBinary)


def _exclusion_conditions(
    metric: Metric, resolved: ColumnElement[bool], defaulted: ColumnElement[bool]
) -> list[tuple[str, ColumnElement[bool]]]:
    """Return (reason, condition) pairs for why incidents lack a value of `metric`."""
    if metric.name == "time_to_detect":
        return [(stats.DEFAULTED, defaulted)]
    missing = literal_column(f"incidents.{metric.end}").is_(None)
    merged: dict[str, ColumnElement[bool]] = {}
    for is_resolved in (True, False):
        reason = stats.exclusion(
            metric, has_end=False, resolved=is_resolved, impact_defaulted=False
        )
        if reason is not None:
            condition = missing & (resolved if is_resolved else ~resolved)
            merged[reason] = merged[reason] | condition if reason in merged else condition
    return list(merged.items())
