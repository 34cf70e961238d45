"""MTTx reports: one scan of the matching incidents, statistics per group, optional trends.

Every figure is computed by ``domain.metrics`` (definitions in its docstring); this module
only partitions and sorts the durations (numpy, exact) and names the groups and periods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
from dateutil.relativedelta import relativedelta
from sqlmodel import Session

from incidents.domain import metrics as stats
from incidents.domain.metrics import Summary, Trend
from incidents.errors import InvalidInput
from incidents.store.metric_groups import GroupData, load_groups
from incidents.store.metrics import KEY_COLUMNS, PERIODS, MetricFilter

DEFAULT_WINDOW = timedelta(days=90)
PERIOD_STEP = {
    "week": relativedelta(weeks=1),
    "month": relativedelta(months=1),
    "quarter": relativedelta(months=3),
}
Values = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """What to report: the window, filters (lists of accepted values) and grouping."""

    since: datetime
    until: datetime
    filters: dict[str, list[str]] = field(default_factory=dict)
    group_by: list[str] = field(default_factory=list)
    trend: bool = False


@dataclass(slots=True)
class GroupReport:
    """The statistics of one group; ``trends`` compares it with the period before."""

    key: dict[str, str | None]
    period: tuple[datetime, datetime] | None
    incidents: int
    open: int
    summaries: dict[str, Summary]
    values: dict[str, Values] = field(repr=False)
    trends: dict[str, Trend] | None = None


@dataclass(frozen=True, slots=True)
class MetricsReport:
    """A whole answer."""

    since: datetime
    until: datetime
    group_by: list[str]
    groups: list[GroupReport]


def validate_group_by(names: Sequence[str]) -> list[str]:
    """Accept any of the key columns and at most one period, or raise InvalidInput."""
    allowed = (*KEY_COLUMNS, *PERIODS)
    unknown = [name for name in names if name not in allowed]
    if unknown:
        message = f"cannot group by {', '.join(unknown)}: use {', '.join(allowed)}"
        raise InvalidInput(message, fields=["group_by"])
    if sum(name in PERIODS for name in names) > 1:
        raise InvalidInput("group by at most one of week, month, quarter", fields=["group_by"])
    return list(dict.fromkeys(names))


def report(query: MetricsQuery, *, session: Session) -> MetricsReport:
    """Compute the MTTx statistics of every group, with trends when asked."""
    if query.since >= query.until:
        raise InvalidInput("since must be before until", fields=["since", "until"])
    groups = _groups(query, query.since, query.until, session=session)
    if query.trend:
        _add_trends(query, groups, session=session)
    return MetricsReport(query.since, query.until, query.group_by, groups)


def _groups(
    query: MetricsQuery, since: datetime, until: datetime, *, session: Session
) -> list[GroupReport]:
    """Load one window and summarise each group."""
    where = MetricFilter(since=since, until=until, values=dict(query.filters))
    data = load_groups(session, where=where, group_by=query.group_by)
    return sorted((_group(query.group_by, group) for group in data), key=_sort_key)


def _group(group_by: Sequence[str], data: GroupData) -> GroupReport:
    """Build one group's report from its sorted values and exclusion counts."""
    summaries = {
        name: stats.summarize_ranks(
            len(values), float(values.sum()), _picker(values), data.excluded[name]
        )
        for name, values in data.values.items()
    }
    named = dict(zip(group_by, data.key, strict=True))
    return GroupReport(
        key=named,
        period=_period(group_by, named),
        incidents=data.incidents,
        open=data.open,
        summaries=summaries,
        values=data.values,
    )


def _picker(values: Values) -> Callable[[int], float]:
    """Return a function giving the value at a 1-based rank of sorted `values`."""
    return lambda rank: float(values[rank - 1])


def _period(
    group_by: Sequence[str], key: dict[str, str | None]
) -> tuple[datetime, datetime] | None:
    """Return the [start, end) of the group's period, from its label."""
    name = next((n for n in group_by if n in PERIODS), None)
    if name is None or key.get(name) is None:
        return None
    start = period_start(name, str(key[name]))
    return start, start + PERIOD_STEP[name]


def period_start(name: str, label: str) -> datetime:
    """Read a period label (2026-11-23, 2026-11, 2026-Q4) as its UTC start."""
    if name == "quarter":
        year, quarter = label.split("-Q")
        return datetime(int(year), 3 * int(quarter) - 2, 1, tzinfo=UTC)
    if name == "month":
        year, month = label.split("-")
        return datetime(int(year), int(month), 1, tzinfo=UTC)
    return datetime.fromisoformat(label).replace(tzinfo=UTC)


def _sort_key(group: GroupReport) -> tuple[tuple[bool, str], ...]:
    """Order groups by their keys (None last), periods chronologically."""
    return tuple((value is None, value or "") for value in group.key.values())


def _add_trends(query: MetricsQuery, groups: list[GroupReport], *, session: Session) -> None:
    """Compare each group with the period before: the previous period group, or the window
    of the same length just before ``since`` when no period is grouped."""
    period = next((n for n in query.group_by if n in PERIODS), None)
    if period is not None:
        by_key = {_identity(g.key): g for g in groups}
        for group in groups:
            if group.period is not None:
                previous_key = {
                    **group.key,
                    period: _label(period, group.period[0] - PERIOD_STEP[period]),
                }
                _compare(group, by_key.get(_identity(previous_key)))
        return
    span = query.until - query.since
    before = _groups(query, query.since - span, query.since, session=session)
    by_key = {_identity(g.key): g for g in before}
    for group in groups:
        _compare(group, by_key.get(_identity(group.key)))


def _compare(group: GroupReport, previous: GroupReport | None) -> None:
    """Attach the per-metric trend of `group` against `previous` (empty when absent)."""
    empty: Values = np.empty(0)
    group.trends = {
        name: stats.compare(values, previous.values[name] if previous else empty)
        for name, values in group.values.items()
    }


def _identity(key: dict[str, str | None]) -> tuple[tuple[str, str | None], ...]:
    """Return a hashable form of a group key."""
    return tuple(sorted(key.items()))


def _label(name: str, start: datetime) -> str:
    """Return the label of the period starting at `start`, as the database writes it."""
    if name == "quarter":
        return f"{start.year}-Q{(start.month + 2) // 3}"
    if name == "month":
        return f"{start.year}-{start.month:02d}"
    return start.strftime("%Y-%m-%d")
