"""The incident page's data: header, key times and durations, the timeline chart and list,
alerts, overrides, the impact figure (from the summary flow) and links to the documents.

Links leave the page only for http(s) URLs that the data carries (runbook, alert links);
anything else (``javascript:``, relative paths someone typed) is shown as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from markupsafe import Markup
from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.lifecycle import Durations, ImpactSource
from incidents.domain.metrics import METRICS, exclusion
from incidents.domain.refs import incident_key, subject
from incidents.flows import queries, summary
from incidents.flows.ports import Clock
from incidents.reports.summary_context import Summary
from incidents.store.models import AlertRecord, Incident, Override, TimelineEntry
from incidents.web.timeline_chart import AlertMark, Milestone, timeline_chart

MILESTONES = (
    ("impact_started", "Impact started", "impact_started_at"),
    ("detected", "Detected", "detected_at"),
    ("acknowledged", "Acknowledged", "acknowledged_at"),
    ("mitigated", "Mitigated", "mitigated_at"),
    ("resolved", "Resolved", "resolved_at"),
)
STAMPS = (
    ("Impact started", "impact_started_at", None),
    ("Detected", "detected_at", None),
    ("Reported", "reported_at", "reporter"),
    ("Acknowledged", "acknowledged_at", "acknowledged_by"),
    ("Mitigated", "mitigated_at", None),
    ("Resolved", "resolved_at", "resolved_by"),
)


@dataclass(frozen=True, slots=True)
class Link:
    """A link the page shows: its text and target."""

    label: str
    href: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """One key timestamp with who set it and a note (e.g. 'defaulted to detection')."""

    label: str
    at: datetime | None
    by: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class DurationRow:
    """One of the four durations: its MTTx name, value (or why there is none), definition."""

    short: str
    name: str
    value: timedelta | None
    missing: str | None
    definition: str


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert with its safe links."""

    alert: AlertRecord
    links: list[Link]


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """One routing override and whether it applies now."""

    override: Override
    active: bool


@dataclass(frozen=True, slots=True)
class IncidentView:
    """Everything the incident page shows."""

    incident: Incident
    key: str
    subject: str
    stamps: list[Stamp]
    durations: list[DurationRow]
    chart: Markup
    timeline: list[TimelineEntry]
    alerts: list[AlertRow]
    overrides: list[OverrideRow]
    summary: Summary
    runbook: Link | None
    documents: list[Link]


def web_link(href: str | None, label: str) -> Link | None:
    """Return a link only for an absolute http(s) URL; None for anything else."""
    if not href:
        return None
    parts = urlsplit(href.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return Link(label=label or href, href=href.strip())


def incident_view(ref: str, *, session: Session, clock: Clock, settings: Settings) -> IncidentView:
    """Load one incident (id or key) with everything its page shows; NotFound if absent."""
    detail = queries.show_incident(ref, session=session)
    incident, now = detail.incident, clock.now()
    assert incident.id is not None
    key = incident_key(incident.id)
    alerts = detail.alerts
    chart = timeline_chart(
        _milestones(incident),
        [AlertMark(a.title, a.starts_at, a.ends_at) for a in alerts],
        now=now,
        chart_id=f"timeline-{incident.id}",
        title=f"{key} timeline",
    )
    found = summary.summary(
        incident.id,
        session=session,
        clock=clock,
        cadence=settings.cadence,
        public_url=settings.public_url,
    )
    base = f"/ui/incidents/{key}"
    return IncidentView(
        incident=incident,
        key=key,
        subject=subject(incident.service, incident.model, incident.slice),
        stamps=_stamps(incident),
        durations=_durations(incident, detail.durations),
        chart=chart,
        timeline=queries.timeline(incident.id, session=session),
        alerts=[AlertRow(a, _alert_links(a)) for a in alerts],
        overrides=[OverrideRow(o, _active(o, incident, now)) for o in detail.overrides],
        summary=found,
        runbook=web_link(incident.runbook, incident.runbook or ""),
        documents=[
            Link(label, f"{base}/{name}")
            for label, name in (
                ("Postmortem (HTML)", "postmortem.html"),
                ("Postmortem (Markdown)", "postmortem.md"),
                ("Stakeholder summary (HTML)", "summary.html"),
                ("Stakeholder summary (Markdown)", "summary.md"),
            )
        ],
    )


def _milestones(incident: Incident) -> list[Milestone]:
    """Return the lifecycle moments the incident has reached, in the lifecycle's order."""
    found: list[Milestone] = []
    for kind, label, field in MILESTONES:
        at = getattr(incident, field)
        if at is not None:
            found.append(Milestone(kind, label, at))
    return found


def _stamps(incident: Incident) -> list[Stamp]:
    """Return the key timestamps with who set them."""
    defaulted = incident.impact_started_source == ImpactSource.DEFAULTED.value
    rows = []
    for label, field, by_field in STAMPS:
        note = "defaulted to detection" if field == "impact_started_at" and defaulted else None
        by = getattr(incident, by_field) if by_field else None
        rows.append(Stamp(label, getattr(incident, field), by, note))
    return rows


def _durations(incident: Incident, durations: Durations) -> list[DurationRow]:
    """Return the four durations, each with its definition or why it is missing."""
    defaulted = incident.impact_started_source == ImpactSource.DEFAULTED.value
    rows = []
    for metric in METRICS:
        value: timedelta | None = getattr(durations, metric.name)
        missing = None
        if value is None:
            missing = exclusion(
                metric,
                has_end=getattr(incident, metric.end) is not None,
                resolved=incident.status == "resolved",
                impact_defaulted=defaulted,
            )
        name = metric.name.replace("_", " ").capitalize()
        rows.append(DurationRow(metric.short, name, value, missing, metric.definition))
    return rows


def _alert_links(alert: AlertRecord) -> list[Link]:
    """Return an alert's http(s) links (dashboards, runbooks, generators)."""
    links = []
    for item in alert.links or []:
        found = web_link(str(item.get("href", "")), str(item.get("text", "")))
        if found is not None:
            links.append(found)
    return links


def _active(override: Override, incident: Incident, now: datetime) -> bool:
    """Tell whether an override applies now: not ended, not expired, incident not resolved."""
    expired = override.expires_at is not None and override.expires_at <= now
    return override.ended_at is None and not expired and incident.status != "resolved"
