"""Turn the text filters people type (API query, CLI options) into a store filter."""

from __future__ import annotations

from datetime import datetime

from incidents.domain.lifecycle import Status
from incidents.domain.refs import slice_key
from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_human_time
from incidents.errors import InvalidInput, InvalidTime
from incidents.flows.metrics import DEFAULT_WINDOW, MetricsQuery, validate_group_by
from incidents.store.incidents import IncidentFilter

OPEN_STATUSES = (Status.TRIGGERED.value, Status.ACKNOWLEDGED.value, Status.MITIGATED.value)


def incident_filter(
    *,
    status: str | None,
    severity: str | None,
    service: str | None,
    model: str | None,
    since: str | None,
    until: str | None,
    timezone: str,
    now: datetime,
    slice_: str | None = None,
) -> IncidentFilter:
    """Parse list filters; 'open' means every status but resolved; slice as "language=de"."""
    return IncidentFilter(
        statuses=_statuses(status),
        severities=[parse_severity(s).value for s in _split(severity)] or None,
        service=service,
        model=model,
        since=_time(since, "since", timezone=timezone, now=now),
        until=_time(until, "until", timezone=timezone, now=now),
        slice_key=slice_.strip() if slice_ and slice_.strip() else None,
    )


def _split(text: str | None) -> list[str]:
    """Split a comma-separated list, dropping blanks."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _statuses(text: str | None) -> list[str] | None:
    """Expand 'open' and validate status names."""
    statuses: list[str] = []
    for name in _split(text):
        lowered = name.lower()
        if lowered == "open":
            statuses.extend(OPEN_STATUSES)
        elif lowered in {s.value for s in Status}:
            statuses.append(lowered)
        else:
            allowed = "open, " + ", ".join(s.value for s in Status)
            raise InvalidInput(f"unknown status {name!r}: use {allowed}", fields=["status"])
    return statuses or None


def _time(text: str | None, field: str, *, timezone: str, now: datetime) -> datetime | None:
    """Parse a filter time, naming the parameter in errors."""
    if not text:
        return None
    try:
        return parse_human_time(text, tz=timezone, now=now, allow_future=True)
    except InvalidTime as exc:
        raise InvalidTime(f"{field}: {exc.message}", fields=[field]) from None


def metrics_query(
    *,
    since: str | None,
    until: str | None,
    group_by: str | None,
    filters: dict[str, str | None],
    trend: bool,
    timezone: str,
    now: datetime,
) -> MetricsQuery:
    """Parse the MTTx request: window (default the last 90 days), filters and grouping."""
    end = _time(until, "until", timezone=timezone, now=now) or now
    start = _time(since, "since", timezone=timezone, now=now) or end - DEFAULT_WINDOW
    values = {name: _filter_values(name, text) for name, text in filters.items() if text}
    return MetricsQuery(
        since=start,
        until=end,
        filters=values,
        group_by=validate_group_by(_split(group_by)),
        trend=trend,
    )


def _filter_values(name: str, text: str) -> list[str]:
    """Read one filter: severities are normalised, a slice is one canonical key."""
    if name == "severity":
        return [parse_severity(part).value for part in _split(text)]
    if name == "slice":
        pairs = dict(part.split("=", 1) for part in _split(text) if "=" in part)
        key = slice_key(pairs)
        if key is None:
            raise InvalidInput(
                "slice: use dimension=value pairs, e.g. language=de", fields=["slice"]
            )
        return [key]
    return _split(text)
