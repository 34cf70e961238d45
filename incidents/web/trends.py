"""The metrics page's data: MTTx trends per period (and group), headline figures, a
time-to-mitigate histogram and the definitions — from one ``flows.metrics.report`` scan.

Every figure comes from ``domain.metrics`` (the one definition of MTTx). Periods without
incidents still appear (n = 0), so the x axis is the calendar, not the data. The headline
figures and the histogram pool the period groups: the groups partition the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from markupsafe import Markup
from sqlmodel import Session

from incidents.domain import metrics as stats
from incidents.domain.metrics import DEFINITIONS, METRICS, Summary
from incidents.errors import InvalidInput
from incidents.flows.filters import metrics_query
from incidents.flows.metrics import PERIOD_STEP, GroupReport, report
from incidents.web.charts import Bin, TrendPoint, histogram, trend_chart

GROUPS = {
    "": "all incidents together",
    "severity": "severity",
    "service": "service",
    "model": "model",
    "slice": "slice",
}
PERIODS = ("week", "month")
WINDOWS = {
    "30d": "last 30 days",
    "90d": "last 90 days",
    "180d": "last 180 days",
    "365d": "last year",
}
MAX_GROUPS = 8
# Time-to-mitigate bins (seconds): human boundaries, wider as durations grow (heavy tail).
EDGES = (0, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
BIN_LABELS = ("<5m", "5–15m", "15–30m", "30m–1h", "1–2h", "2–4h", "4–8h", "8h–1d", "1–3d", ">3d")


@dataclass(frozen=True, slots=True)
class MetricsParams:
    """The page's selectors: period size, grouping and window."""

    period: str = "week"
    group: str = ""
    window: str = "90d"


@dataclass(frozen=True, slots=True)
class TrendView:
    """One metric's trend in one group: the chart and its data (the text alternative)."""

    short: str
    chart: Markup
    points: list[TrendPoint]


@dataclass(frozen=True, slots=True)
class GroupView:
    """One group's four trends."""

    label: str
    incidents: int
    open: int
    trends: list[TrendView]


@dataclass(frozen=True, slots=True)
class Headline:
    """One metric over the whole window."""

    short: str
    summary: Summary


@dataclass(frozen=True, slots=True)
class MetricsView:
    """Everything the metrics page shows."""

    params: MetricsParams
    since: datetime
    until: datetime
    headlines: list[Headline]
    groups: list[GroupView]
    hidden_groups: int
    histogram: Markup
    bins: list[Bin]
    definitions: list[tuple[str, str]]


def parse_params(query: Mapping[str, str]) -> MetricsParams:
    """Read the selectors, or raise InvalidInput for a value no select offers."""
    params = MetricsParams(
        period=query.get("period", "week") or "week",
        group=query.get("group", ""),
        window=query.get("window", "90d") or "90d",
    )
    for name, allowed in (
        ("period", PERIODS),
        ("group", tuple(GROUPS)),
        ("window", tuple(WINDOWS)),
    ):
        if getattr(params, name) not in allowed:
            raise InvalidInput(
                f"{name}: one of {', '.join(a or '(none)' for a in allowed)}", fields=[name]
            )
    return params


def metrics_view(
    params: MetricsParams, *, session: Session, now: datetime, timezone: str
) -> MetricsView:
    """Run one report grouped by period (and the chosen key) and shape it for the page."""
    group_by = ",".join(name for name in (params.group, params.period) if name)
    query = metrics_query(
        since=params.window,
        until=None,
        group_by=group_by,
        filters={},
        trend=False,
        timezone=timezone,
        now=now,
    )
    found = report(query, session=session)
    starts = period_starts(params.period, found.since, found.until)
    by_group: dict[str | None, list[GroupReport]] = {}
    for group in found.groups:
        by_group.setdefault(group.key.get(params.group) if params.group else None, []).append(group)
    ranked = sorted(by_group.items(), key=lambda item: -sum(g.incidents for g in item[1]))
    views = [
        _group_view(params, key, groups, starts, index)
        for index, (key, groups) in enumerate(ranked[:MAX_GROUPS])
    ]
    bins = time_to_mitigate_bins(found.groups)
    return MetricsView(
        params=params,
        since=found.since,
        until=found.until,
        headlines=_headlines(found.groups),
        groups=views,
        hidden_groups=max(0, len(ranked) - MAX_GROUPS),
        histogram=histogram(
            bins, chart_id="ttm-histogram", title="Time to mitigate: incidents per duration range"
        ),
        bins=bins,
        definitions=_definitions(),
    )


def period_starts(name: str, since: datetime, until: datetime) -> list[datetime]:
    """Return the UTC starts of every calendar period (ISO week or month) touching the window."""
    day = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = day - timedelta(days=day.weekday()) if name == "week" else day.replace(day=1)
    starts = []
    while start < until:
        starts.append(start)
        start = start + PERIOD_STEP[name]
    return starts


def period_label(name: str, start: datetime) -> str:
    """Label a period on an axis: the week's Monday ('23 Nov') or the month ('Nov 2026')."""
    return start.strftime("%d %b") if name == "week" else start.strftime("%b %Y")


def _group_view(
    params: MetricsParams,
    key: str | None,
    groups: list[GroupReport],
    starts: list[datetime],
    index: int,
) -> GroupView:
    """Build the four trend charts of one group, one point per calendar period."""
    by_start = {g.period[0]: g for g in groups if g.period is not None}
    label = "All incidents" if not params.group else f"{params.group.title()}: {key or '(none)'}"
    trends = []
    for metric in METRICS:
        points = []
        for start in starts:
            summary = by_start[start].summaries[metric.name] if start in by_start else None
            points.append(
                TrendPoint(
                    label=period_label(params.period, start),
                    median=summary.median if summary else None,
                    p90=summary.p90 if summary else None,
                    n=summary.n if summary else 0,
                )
            )
        chart_id = f"trend-{metric.short}-{index}"
        title = f"{metric.short} per {params.period}, {label}"
        trends.append(
            TrendView(metric.short, trend_chart(points, chart_id=chart_id, title=title), points)
        )
    return GroupView(label, sum(g.incidents for g in groups), sum(g.open for g in groups), trends)


def _headlines(groups: list[GroupReport]) -> list[Headline]:
    """Summarise each metric over the whole window (the period groups pooled)."""
    headlines = []
    for metric in METRICS:
        values = [float(v) for g in groups for v in g.values[metric.name]]
        excluded: dict[str, int] = {}
        for group in groups:
            for reason, count in group.summaries[metric.name].excluded.items():
                excluded[reason] = excluded.get(reason, 0) + count
        headlines.append(Headline(metric.short, stats.summarize(values, excluded)))
    return headlines


def time_to_mitigate_bins(groups: list[GroupReport]) -> list[Bin]:
    """Count time-to-mitigate values per human duration range."""
    values = [g.values["time_to_mitigate"] for g in groups]
    pooled = np.concatenate(values) if values else np.empty(0)
    index = np.searchsorted(np.asarray(EDGES[1:], dtype=float), pooled, side="right")
    counts = np.bincount(index, minlength=len(EDGES))
    return [Bin(label, int(count)) for label, count in zip(BIN_LABELS, counts, strict=True)]


def _definitions() -> list[tuple[str, str]]:
    """Return the definitions as (term, text), the four metrics first under their short names."""
    terms = {metric.name: f"{metric.short} ({metric.name})" for metric in METRICS}
    return [(terms.get(name, name), text) for name, text in DEFINITIONS.items()]
