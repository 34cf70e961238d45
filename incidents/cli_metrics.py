"""Render MTTx reports for the terminal: a rich table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum

from rich.console import Console
from rich.table import Table

from incidents.api.metrics_schemas import MetricsOut
from incidents.domain.humanize import format_duration
from incidents.domain.metrics import DEFINITIONS, METRICS, Summary
from incidents.flows.metrics import GroupReport, MetricsReport


class MetricsFormat(StrEnum):
    """Output formats of `incidents metrics`."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


CSV_FIELDS = ("metric", "n", "median", "p90", "mean", "min", "max", "ci_low", "ci_high",
              "excluded", "note")  # fmt: skip


def print_metrics(console: Console, report: MetricsReport, *, format_: MetricsFormat) -> None:
    """Print a report in the chosen format."""
    if format_ is MetricsFormat.JSON:
        console.print_json(MetricsOut.of(report).model_dump_json())
    elif format_ is MetricsFormat.CSV:
        console.print(to_csv(report), end="", highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(_table(report))
        for metric in METRICS:
            console.print(f"[dim]{DEFINITIONS[metric.name]}[/]", highlight=False)


def _table(report: MetricsReport) -> Table:
    """Build the rich table: one row per group, medians as human durations."""
    window = f"{report.since:%Y-%m-%d} – {report.until:%Y-%m-%d}"
    table = Table(title=f"MTTx, median (n) and p90, detected {window} UTC")
    for name in report.group_by or ["all"]:
        table.add_column(name)
    table.add_column("incidents", justify="right")
    table.add_column("open", justify="right")
    for metric in METRICS:
        table.add_column(metric.short, justify="right")
    for group in report.groups:
        table.add_row(*_key_cells(report, group), str(group.incidents), str(group.open),
                      *(_cell(group.summaries[m.name]) for m in METRICS))  # fmt: skip
    table.caption = (
        "* insufficient data (n < 5)" if report.groups else "no incidents in this window"
    )
    return table


def _key_cells(report: MetricsReport, group: GroupReport) -> list[str]:
    """Return the group's key values for the table."""
    if not report.group_by:
        return ["all"]
    return [group.key.get(name) or "—" for name in report.group_by]


def _cell(summary: Summary) -> str:
    """Format one metric: the median with n, and p90 below; * marks insufficient data."""
    if summary.n == 0:
        return "—"
    mark = "[yellow]*[/]" if summary.note else ""
    median, p90 = format_duration(summary.median), format_duration(summary.p90)
    return f"{median} (n={summary.n}){mark}\np90 {p90}"


def to_csv(report: MetricsReport) -> str:
    """Return one CSV row per group and metric, seconds as numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*report.group_by, "incidents", "open", *CSV_FIELDS])
    for group in report.groups:
        for metric in METRICS:
            s = group.summaries[metric.name]
            ci = s.median_ci
            writer.writerow([
                *(group.key.get(name) or "" for name in report.group_by),
                group.incidents, group.open, metric.name, s.n, s.median, s.p90, s.mean,
                s.min, s.max, ci.low if ci else "", ci.high if ci else "",
                json.dumps(s.excluded, sort_keys=True), s.note or "",
            ])  # fmt: skip
    return buffer.getvalue()
