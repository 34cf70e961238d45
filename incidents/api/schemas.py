"""Request and response bodies of the HTTP API (the public JSON contract, DESIGN §6)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from incidents.api.override_schemas import OverrideOut
from incidents.domain.impact import Range
from incidents.domain.lifecycle import Durations
from incidents.domain.refs import incident_key
from incidents.domain.severity import Severity, parse_severity
from incidents.errors import InvalidInput
from incidents.flows.impact import current_estimate
from incidents.flows.queries import IncidentDetail
from incidents.store.models import Incident, TimelineEntry

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=20_000)]
SliceMap = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=100)],
    Annotated[str, StringConstraints(max_length=200)],
]


class _Input(BaseModel):
    """Base of request bodies: unknown fields are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class _SeverityInput(_Input):
    """Adds lenient severity parsing ('sev2', '2', 'critical')."""

    @field_validator("severity", mode="before", check_fields=False)
    @classmethod
    def _severity(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            try:
                return parse_severity(str(value))
            except InvalidInput as exc:
                raise ValueError(exc.message) from None
        return value


class IncidentCreate(_SeverityInput):
    """Body of POST /api/incidents."""

    title: Title
    severity: Severity = Severity.SEV3
    service: Name | None = None
    model: Name | None = None
    model_version: Annotated[str, StringConstraints(max_length=100)] | None = None
    slice: SliceMap | None = None
    summary: Text | None = None
    commander: Name | None = None
    actor: Name | None = None
    impact_started_at: AwareDatetime | None = None
    detected_at: AwareDatetime | None = None


class IncidentPatch(_SeverityInput):
    """Body of PATCH /api/incidents/{id}: only the fields given change."""

    title: Title | None = None
    severity: Severity | None = None
    commander: Name | None = None
    summary: Text | None = None
    service: Name | None = None
    model: Name | None = None
    model_version: Annotated[str, StringConstraints(max_length=100)] | None = None
    slice: SliceMap | None = None
    impact_started_at: AwareDatetime | None = None
    detected_at: AwareDatetime | None = None
    acknowledged_at: AwareDatetime | None = None
    mitigated_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    actor: Name | None = None


class TransitionInput(_Input):
    """Body of POST /api/incidents/{id}/acknowledge|mitigate|resolve|reopen."""

    actor: Name | None = None
    at: AwareDatetime | None = Field(default=None, description="back-date the event (not future)")
    note: Text | None = None


class NoteInput(_Input):
    """Body of POST /api/incidents/{id}/notes."""

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    actor: Name | None = None
    at: AwareDatetime | None = None


class DurationsOut(BaseModel):
    """Per-incident durations in seconds (null where an end point is missing)."""

    time_to_detect: float | None
    time_to_acknowledge: float | None
    time_to_mitigate: float | None
    time_to_resolve: float | None
    time_to_resolve_from_detection: float | None

    @classmethod
    def of(cls, value: Durations) -> DurationsOut:
        """Convert domain durations to seconds."""
        return cls(
            time_to_detect=_seconds(value.time_to_detect),
            time_to_acknowledge=_seconds(value.time_to_acknowledge),
            time_to_mitigate=_seconds(value.time_to_mitigate),
            time_to_resolve=_seconds(value.time_to_resolve),
            time_to_resolve_from_detection=_seconds(value.time_to_resolve_from_detection),
        )


class AlertOut(BaseModel):
    """An alert attached to an incident."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    fingerprint: str
    status: str
    severity: str
    title: str
    summary: str | None
    labels: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    last_seen_at: datetime
    seen_count: int


class IncidentSummaryOut(BaseModel):
    """An incident as it appears in lists."""

    id: int
    key: str
    title: str
    status: str
    severity: str
    source: str
    service: str | None
    model: str | None
    model_version: str | None
    slice: dict[str, str] | None
    commander: str | None
    impact_started_at: datetime
    impact_started_source: str
    detected_at: datetime
    reported_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, incident: Incident) -> IncidentSummaryOut:
        """Build from a stored incident."""
        return cls(**_incident_fields(incident))


class IncidentOut(IncidentSummaryOut):
    """One incident with everything a responder needs beside it."""

    summary: str | None
    reporter: str | None
    acknowledged_by: str | None
    durations: DurationsOut
    alerts: list[AlertOut]
    runbook: str | None
    slack_channel: str | None
    pagerduty_incident_id: str | None
    overrides: list[OverrideOut] = Field(default_factory=list)
    error_budget: list[dict[str, Any]] = Field(
        default_factory=list,
        description="per SLO of its service or model: bad events, budget share spent, and "
        "whether that (> 20%) makes a postmortem required",
    )
    impact: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of_detail(
        cls,
        detail: IncidentDetail,
        *,
        now: datetime | None = None,
        error_budget: list[dict[str, Any]] | None = None,
    ) -> IncidentOut:
        """Build from an incident detail (with the impact figure as of `now`)."""
        incident = detail.incident
        updated_at = detail.updated_at or incident.updated_at
        return cls(
            impact=impact_json(incident, now=now) if now else None,
            **_incident_fields(incident),
            summary=incident.summary,
            reporter=incident.reporter,
            acknowledged_by=incident.acknowledged_by,
            durations=DurationsOut.of(detail.durations),
            alerts=[AlertOut.model_validate(alert) for alert in detail.alerts],
            runbook=incident.runbook,
            slack_channel=incident.slack_channel,
            pagerduty_incident_id=incident.pagerduty_incident_id,
            overrides=[
                OverrideOut.of(
                    o,
                    now=now or updated_at,
                    incident_resolved=incident.status == "resolved",
                )
                for o in detail.overrides
            ],  # fmt: skip
            error_budget=error_budget or [],
            created_at=incident.created_at,
            updated_at=updated_at,
        )


class IncidentListOut(BaseModel):
    """One page of incidents; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[IncidentSummaryOut]
    next_cursor: str | None


class TimelineEntryOut(BaseModel):
    """One timeline entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    incident_id: int
    at: datetime
    recorded_at: datetime
    kind: str
    actor: str | None
    text: str | None
    data: dict[str, Any] | None

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineEntryOut:
        """Build from a stored entry."""
        return cls.model_validate(entry)


class ImpactInput(_Input):
    """Body of PUT /api/incidents/{id}/impact: a model, a currency and its inputs."""

    model: Annotated[str, StringConstraints(max_length=20)] = Field(
        description="generic, credit or conversion"
    )
    currency: Annotated[str, StringConstraints(max_length=3)] = "EUR"
    inputs: dict[
        Annotated[str, StringConstraints(max_length=50)],
        float | Annotated[list[float], Field(min_length=2, max_length=2)],
    ] = Field(max_length=10, description="each a number or [low, high]")
    actor: Name | None = None


def impact_json(incident: Incident, *, now: datetime) -> dict[str, Any] | None:
    """Return the stored inputs and the figure they give now (or None when not set)."""
    figure = current_estimate(incident, now=now)
    if figure is None or incident.impact is None:
        return None

    def pair(value: Range | None) -> dict[str, float] | None:
        return None if value is None else {"low": value.low, "high": value.high}

    return {
        "model": figure.model,
        "currency": incident.impact.get("currency", "EUR"),
        "inputs": {name: pair(value) for name, value in figure.inputs.items()},
        "total": pair(figure.total),
        "per_hour": pair(figure.per_hour),
        "hours": figure.hours,
        "ongoing": figure.ongoing,
        "detection_delay": pair(figure.detection_delay),
        "formula": figure.formula,
    }


class ErrorOut(BaseModel):
    """Every error answer: a readable message plus a machine code and details."""

    detail: str
    error: str
    fields: list[str] | None = None
    status: str | None = None
    error_id: str | None = None


def _incident_fields(incident: Incident) -> dict[str, Any]:
    """Return the list-view fields of a stored incident."""
    assert incident.id is not None
    return {
        "id": incident.id,
        "key": incident_key(incident.id),
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "source": incident.source,
        "service": incident.service,
        "model": incident.model,
        "model_version": incident.model_version,
        "slice": incident.slice,
        "commander": incident.commander,
        "impact_started_at": incident.impact_started_at,
        "impact_started_source": incident.impact_started_source,
        "detected_at": incident.detected_at,
        "reported_at": incident.reported_at,
        "acknowledged_at": incident.acknowledged_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
    }


def _seconds(value: timedelta | None) -> float | None:
    """Return a duration in seconds."""
    return None if value is None else value.total_seconds()
