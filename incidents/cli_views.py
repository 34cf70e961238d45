"""Rich renderings of incidents for the terminal (times shown in the reader's zone)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from incidents.domain.humanize import format_duration
from incidents.domain.refs import incident_key, subject
from incidents.flows.queries import IncidentDetail
from incidents.store.models import Incident, TimelineEntry

STATUS_STYLE = {
    "triggered": "bold red",
    "acknowledged": "yellow",
    "mitigated": "cyan",
    "resolved": "green",
}
TIMESTAMP_ROWS = (
    ("impact started", "impact_started_at"),
    ("detected", "detected_at"),
    ("reported", "reported_at"),
    ("acknowledged", "acknowledged_at"),
    ("mitigated", "mitigated_at"),
    ("resolved", "resolved_at"),
)


def local(value: datetime | None, zone: str) -> str:
    """Format a timestamp in `zone`, with its offset, or '—'."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %z")


def _key(incident: Incident) -> str:
    """Return the incident's key."""
    assert incident.id is not None
    return incident_key(incident.id)


def print_list(console: Console, incidents: Sequence[Incident], *, zone: str) -> None:
    """Print incidents as a table."""
    if not incidents:
        console.print("no incidents match")
        return
    table = Table(title=f"Incidents (times in {zone})")
    for header in ("key", "sev", "status", "title", "service/model · slice", "detected"):
        table.add_column(header)
    for incident in incidents:
        table.add_row(
            _key(incident),
            incident.severity,
            f"[{STATUS_STYLE.get(incident.status, '')}]{incident.status}[/]",
            incident.title,
            subject(incident.service, incident.model, incident.slice),
            local(incident.detected_at, zone),
        )
    console.print(table)


def print_detail(console: Console, detail: IncidentDetail, *, zone: str) -> None:
    """Print one incident with its timestamps and durations."""
    incident = detail.incident
    style = STATUS_STYLE.get(incident.status, "")
    console.print(
        f"[bold]{_key(incident)}[/] {incident.severity} [{style}]{incident.status}[/] "
        f"— {incident.title}",
        highlight=False,
    )
    console.print(f"about: {subject(incident.service, incident.model, incident.slice)}",
                  highlight=False, markup=False)  # fmt: skip
    table = Table(show_header=False, box=None, pad_edge=False)
    for label, name in TIMESTAMP_ROWS:
        value = local(getattr(incident, name), zone)
        if name == "impact_started_at" and incident.impact_started_source == "defaulted":
            value += " (defaulted to detection)"
        table.add_row(label, value)
    durations = detail.durations
    for label, duration in (
        ("time to detect", durations.time_to_detect),
        ("time to acknowledge", durations.time_to_acknowledge),
        ("time to mitigate", durations.time_to_mitigate),
        ("time to resolve", durations.time_to_resolve),
    ):
        table.add_row(label, format_duration(duration))
    console.print(table)


def print_timeline(console: Console, entries: Sequence[TimelineEntry], *, zone: str) -> None:
    """Print the timeline."""
    table = Table(title="Timeline")
    for header in ("at", "what", "who", "details"):
        table.add_column(header)
    for entry in entries:
        table.add_row(local(entry.at, zone), entry.kind, entry.actor or "—", entry.text or "")
    console.print(table)
