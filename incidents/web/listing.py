"""The incident list page's data: filters from the query string, one page of rows, choices.

Filters are the API's (``flows.filters.incident_filter``) plus the slice, which the list
matches on the incident's canonical slice key. "New since": the list remembers nothing; its
"check for new incidents" link carries ``seen`` — the newest id shown — and the next view
marks every incident above it as new. Four queries: the page and the three choice lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session, col, select

from incidents.domain.humanize import format_duration
from incidents.domain.lifecycle import Status
from incidents.domain.refs import incident_key, subject
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput
from incidents.flows.filters import incident_filter
from incidents.flows.queries import decode_cursor, list_incidents
from incidents.store.models import Incident

PAGE_SIZE = 50
MAX_CHOICES = 200
MAX_TEXT = 200
STATUSES = ("open", *(s.value for s in Status))
SEVERITIES = tuple(s.value for s in Severity)
PERIODS = {
    "24h": "last 24 hours",
    "7d": "last 7 days",
    "30d": "last 30 days",
    "90d": "last 90 days",
    "365d": "last year",
}
REFRESH_SECONDS = 60


@dataclass(frozen=True, slots=True)
class ListParams:
    """What the list shows: the filter form's values, the paging cursor, 'seen' and refresh."""

    status: str = ""
    severity: str = ""
    service: str = ""
    model: str = ""
    slice: str = ""
    period: str = ""
    seen: int | None = None
    auto: bool = False
    cursor: str = ""

    def url(self, **changes: object) -> str:
        """Return the list's URL with these parameters (empty ones left out)."""
        values = asdict(replace(self, **changes))  # type: ignore[arg-type]
        values["auto"] = "1" if values["auto"] else ""
        query = urlencode({k: v for k, v in values.items() if v not in ("", None)})
        return "/ui/incidents" + (f"?{query}" if query else "")


def parse_params(query: Mapping[str, str]) -> ListParams:
    """Read and check the query string, or raise InvalidInput naming the field."""
    values = {
        name: query.get(name, "").strip()[:MAX_TEXT]
        for name in ("status", "severity", "service", "model", "slice", "period", "cursor")
    }
    _choice(values, "status", STATUSES)
    _choice(values, "severity", SEVERITIES)
    _choice(values, "period", tuple(PERIODS))
    seen_text = query.get("seen", "").strip()
    if seen_text and (not seen_text.isdigit() or len(seen_text) > 18):
        raise InvalidInput("seen: an incident number", fields=["seen"])
    if values["cursor"]:
        decode_cursor(values["cursor"])
    return ListParams(
        **values, seen=int(seen_text) if seen_text else None, auto=query.get("auto") == "1"
    )


def _choice(values: dict[str, str], name: str, allowed: tuple[str, ...]) -> None:
    """Refuse a value that the form's select could not have sent."""
    if values[name] and values[name] not in allowed:
        raise InvalidInput(f"{name}: one of {', '.join(allowed)}", fields=[name])


@dataclass(frozen=True, slots=True)
class Row:
    """One incident as the list shows it."""

    id: int
    key: str
    title: str
    severity: str
    status: str
    subject: str
    slice: str | None
    detected_at: datetime
    commander: str | None
    impact: str  # "ongoing for 2h 5m" or "40m"
    new: bool


@dataclass(frozen=True, slots=True)
class Choices:
    """The values the service, model and slice selects offer (those incidents have)."""

    services: list[str]
    models: list[str]
    slices: list[str]


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page of the list: rows, the next cursor, the newest id (first page) and new rows."""

    rows: list[Row]
    next_cursor: str | None
    newest_id: int | None
    new_count: int


def list_page(params: ListParams, *, session: Session, now: datetime, timezone: str) -> ListPage:
    """Return one page of incidents, newest first, matching the filters."""
    where = incident_filter(
        status=params.status or None,
        severity=params.severity or None,
        service=params.service or None,
        model=params.model or None,
        since=params.period or None,
        until=None,
        timezone=timezone,
        now=now,
        slice_=params.slice or None,
    )
    page = list_incidents(where=where, limit=PAGE_SIZE, cursor=params.cursor or None,
                          session=session)  # fmt: skip
    rows = [_row(incident, params.seen, now) for incident in page.items]
    return ListPage(
        rows=rows,
        next_cursor=page.next_cursor,
        newest_id=rows[0].id if rows and not params.cursor else params.seen,
        new_count=sum(row.new for row in rows),
    )


def _row(incident: Incident, seen: int | None, now: datetime) -> Row:
    """Describe one incident for the list."""
    assert incident.id is not None
    impact_end = incident.mitigated_at or incident.resolved_at
    lasted = (impact_end or now) - incident.impact_started_at
    impact = format_duration(lasted) if impact_end else f"ongoing for {format_duration(lasted)}"
    return Row(
        id=incident.id,
        key=incident_key(incident.id),
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        subject=subject(incident.service, incident.model, None),
        slice=incident.slice_key,
        detected_at=incident.detected_at,
        commander=incident.commander,
        impact=impact,
        new=seen is not None and incident.id > seen,
    )


def choices(session: Session) -> Choices:
    """Return the distinct services, models and slices incidents have (for the selects)."""
    return Choices(
        services=_distinct(session, Incident.service),
        models=_distinct(session, Incident.model),
        slices=_distinct(session, Incident.slice_key),
    )


def _distinct(session: Session, column: Any) -> list[str]:
    """Return up to MAX_CHOICES distinct non-null values of an indexed column, sorted."""
    statement = (
        select(column).where(col(column).is_not(None)).distinct().order_by(col(column))
    ).limit(MAX_CHOICES)
    return [str(value) for value in session.exec(statement).all()]
