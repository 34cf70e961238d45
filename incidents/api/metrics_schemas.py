"""Response bodies of GET /api/metrics (DESIGN §6): statistics with their definitions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from incidents.domain.metrics import DEFINITIONS, METRIC_NAMES, Summary, Trend
from incidents.flows.metrics import GroupReport, MetricsReport


class MedianCIOut(BaseModel):
    """The distribution-free interval of the median and its exact coverage."""

    low: float
    high: float
    coverage: float


class StatisticsOut(BaseModel):
    """One metric over one group, in seconds."""

    n: int
    excluded: dict[str, int]
    median: float | None
    p90: float | None
    mean: float | None
    min: float | None
    max: float | None
    median_ci: MedianCIOut | None
    note: str | None

    @classmethod
    def of(cls, summary: Summary) -> StatisticsOut:
        """Convert a domain summary."""
        ci = summary.median_ci
        return cls(
            n=summary.n,
            excluded=summary.excluded,
            median=summary.median,
            p90=summary.p90,
            mean=summary.mean,
            min=summary.min,
            max=summary.max,
            median_ci=None
            if ci is None
            else MedianCIOut(low=ci.low, high=ci.high, coverage=ci.coverage),
            note=summary.note,
        )


class TrendOut(BaseModel):
    """Against the previous period: improved, worse, or insufficient evidence (and why)."""

    direction: str
    p_value: float | None
    n_current: int
    n_previous: int
    reason: str

    @classmethod
    def of(cls, trend: Trend) -> TrendOut:
        """Convert a domain trend."""
        return cls(
            direction=trend.direction,
            p_value=trend.p_value,
            n_current=trend.n_current,
            n_previous=trend.n_previous,
            reason=trend.reason,
        )


class PeriodOut(BaseModel):
    """A calendar period, [start, end) in UTC."""

    start: datetime
    end: datetime


class GroupOut(BaseModel):
    """The figures of one group."""

    key: dict[str, str | None]
    period: PeriodOut | None
    incidents: int
    open: int
    time_to_detect: StatisticsOut
    time_to_acknowledge: StatisticsOut
    time_to_mitigate: StatisticsOut
    time_to_resolve: StatisticsOut
    trend: dict[str, TrendOut] | None = None

    @classmethod
    def of(cls, group: GroupReport) -> GroupOut:
        """Convert a group report."""
        period = (
            None if group.period is None else PeriodOut(start=group.period[0], end=group.period[1])
        )
        trend = None
        if group.trends is not None:
            trend = {name: TrendOut.of(value) for name, value in group.trends.items()}
        stats = {name: StatisticsOut.of(group.summaries[name]) for name in METRIC_NAMES}
        return cls(
            key=group.key,
            period=period,
            incidents=group.incidents,
            open=group.open,
            trend=trend,
            **stats,
        )


class MetricsOut(BaseModel):
    """GET /api/metrics: the window, what every figure means, and the groups."""

    since: datetime
    until: datetime
    group_by: list[str]
    definitions: dict[str, str]
    groups: list[GroupOut]

    @classmethod
    def of(cls, report: MetricsReport) -> MetricsOut:
        """Convert a report."""
        return cls(
            since=report.since,
            until=report.until,
            group_by=report.group_by,
            definitions=DEFINITIONS,
            groups=[GroupOut.of(group) for group in report.groups],
        )
