"""PagerDuty V3 webhooks (``{"event": {...}}``, one event per request), wire-formats §3.1.

Only incident lifecycle events become alerts (``EVENT_STATUS``); every other event type,
including the ``pagey.ping`` test event, is accepted and ignored so PagerDuty never
disables the subscription over events we do not use. Group key and fingerprint are the
PagerDuty incident id. Firing and resolved alerts start at the incident's ``created_at``
(so a resolve matches its trigger); an acknowledgement starts at the moment it happened.

Authentication: ``X-PagerDuty-Signature`` (``v1=<hex>`` entries, any of several secrets
during rotation) when ``INCIDENTS_PAGERDUTY_WEBHOOK_SECRET`` is set, else the webhook token
(a subscription can send a static custom header). Idempotency: ``X-Webhook-Id``, which
PagerDuty repeats on every retry, else ``event.id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus, Link, parse_time
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput
from incidents.ingest import Adapter, Headers, body_digest, header
from incidents.ingest.auth import require_any_v1, require_token

SOURCE = "pagerduty"
SIGNATURE_HEADER = "X-PagerDuty-Signature"
WEBHOOK_ID_HEADER = "X-Webhook-Id"
STATUS_MAP: dict[str, AlertStatus] = {
    "incident.triggered": AlertStatus.FIRING,
    "incident.reopened": AlertStatus.FIRING,
    "incident.resolved": AlertStatus.RESOLVED,
    "incident.acknowledged": AlertStatus.ACKNOWLEDGED,
}
# PagerDuty's default priority names; P5 is the least urgent and maps to our lowest level.
PRIORITY_MAP: dict[str, Severity] = {
    "P1": Severity.SEV1,
    "P2": Severity.SEV2,
    "P3": Severity.SEV3,
    "P4": Severity.SEV4,
    "P5": Severity.SEV4,
}
URGENCY_MAP: dict[str, Severity] = {"high": Severity.SEV2, "low": Severity.SEV4}
DEFAULT_SEVERITY = Severity.SEV3


def verify(headers: Headers, body: bytes, settings: Settings, _now: datetime) -> None:
    """Check the v1 HMAC against every configured secret, or the token when none is set."""
    configured = settings.pagerduty_webhook_secret
    if configured is None:
        require_token(headers, settings.webhook_token)
        return
    secrets = [part.strip() for part in configured.get_secret_value().split(",") if part.strip()]
    require_any_v1(body, header_value=header(headers, SIGNATURE_HEADER), secrets=secrets)


def delivery_key(headers: Headers, body: bytes) -> str:
    """Key a delivery by the id PagerDuty repeats on retries, so redeliveries are no-ops."""
    webhook_id = header(headers, WEBHOOK_ID_HEADER)
    if webhook_id and webhook_id.strip():
        return webhook_id.strip()
    return _event_id(body) or body_digest(headers, body)


def _event_id(body: bytes) -> str | None:
    """Read ``event.id`` leniently: delivery keys are computed before the body is validated."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    event = decoded.get("event") if isinstance(decoded, Mapping) else None
    event_id = event.get("id") if isinstance(event, Mapping) else None
    return event_id if isinstance(event_id, str) and event_id else None


def parse(payload: Any, _received_at: datetime, _params: Mapping[str, str]) -> list[Alert]:
    """Turn an incident lifecycle event into one alert; ignore every other event type."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("body: expected a JSON object", fields=["body"])
    event = payload.get("event")
    if not isinstance(event, Mapping):
        raise InvalidInput("event: required, an object", fields=["event"])
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidInput("event.event_type: required, a string", fields=["event.event_type"])
    status = STATUS_MAP.get(event_type)
    if status is None:
        return []
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise InvalidInput("event.data: required, an object", fields=["event.data"])
    return [_alert(event, data, status)]


def _alert(event: Mapping[str, Any], data: Mapping[str, Any], status: AlertStatus) -> Alert:
    """Build the alert of one incident event (the incident id is its identity and group)."""
    incident_id = data.get("id")
    if not isinstance(incident_id, str) or not incident_id:
        raise InvalidInput("event.data.id: required, a string", fields=["event.data.id"])
    starts_at, ends_at = _times(event, data, status)
    html_url = data.get("html_url")
    title = data.get("title")
    description = data.get("description")
    return Alert(
        source=SOURCE,
        fingerprint=incident_id,
        group_key=incident_id,
        status=status,
        severity=_severity(data),
        title=title if isinstance(title, str) and title else f"PagerDuty incident {incident_id}",
        summary=description if isinstance(description, str) and description else None,
        labels=_labels(event, data),
        starts_at=starts_at,
        ends_at=ends_at,
        links=(Link(html_url, "pagerduty"),) if isinstance(html_url, str) and html_url else (),
        service=_summary(data.get("service")),
        actor=_summary(event.get("agent")) if status is AlertStatus.ACKNOWLEDGED else None,
    )


def _times(
    event: Mapping[str, Any], data: Mapping[str, Any], status: AlertStatus
) -> tuple[datetime, datetime | None]:
    """Return (starts_at, ends_at): creation for the alert's identity, occurrence for changes."""
    occurred_at = parse_time(event.get("occurred_at"), field_name="event.occurred_at")
    if occurred_at is None:
        raise InvalidInput("event.occurred_at: required", fields=["event.occurred_at"])
    if status is AlertStatus.ACKNOWLEDGED:
        return occurred_at, None
    created_at = parse_time(data.get("created_at"), field_name="event.data.created_at")
    starts_at = created_at or occurred_at
    return starts_at, occurred_at if status is AlertStatus.RESOLVED else None


def _severity(data: Mapping[str, Any]) -> Severity:
    """Prefer the incident priority (P1..P5), then its urgency: priority is the finer signal."""
    priority = _summary(data.get("priority"))
    if priority and priority.strip().upper() in PRIORITY_MAP:
        return PRIORITY_MAP[priority.strip().upper()]
    urgency = data.get("urgency")
    if isinstance(urgency, str) and urgency.strip().lower() in URGENCY_MAP:
        return URGENCY_MAP[urgency.strip().lower()]
    return DEFAULT_SEVERITY


def _labels(event: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    """Keep a few identifying facts as labels so runbook matching and filters can use them."""
    number = data.get("number")
    candidates = {
        "event_type": event.get("event_type"),
        "incident_number": str(number) if type(number) is int else None,
        "urgency": data.get("urgency"),
        "priority": _summary(data.get("priority")),
        "service": _summary(data.get("service")),
    }
    return {name: value for name, value in candidates.items() if isinstance(value, str) and value}


def _summary(reference: Any) -> str | None:
    """Return a PagerDuty reference's ``summary`` (it may be null or absent)."""
    value = reference.get("summary") if isinstance(reference, Mapping) else None
    return value if isinstance(value, str) and value else None


SYNC_TYPES = frozenset(
    {"incident.triggered", "incident.reopened", "incident.acknowledged", "incident.resolved",
     "incident.reassigned"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """What a PagerDuty incident event says about an incident we may have paged."""

    event_type: str
    pagerduty_id: str
    incident_key: str | None
    occurred_at: datetime
    agent: str | None
    assignees: tuple[str, ...]


def sync_event(payload: Any) -> SyncEvent | None:
    """Read the facts two-way sync needs; None for events it does not use or cannot read."""
    event = payload.get("event") if isinstance(payload, Mapping) else None
    if not isinstance(event, Mapping) or event.get("event_type") not in SYNC_TYPES:
        return None
    data = event.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        return None
    try:
        occurred_at = parse_time(event.get("occurred_at"), field_name="event.occurred_at")
    except InvalidInput:
        return None
    if occurred_at is None:
        return None
    key = data.get("incident_key")
    assignees = data.get("assignees")
    names = [_summary(a) for a in assignees] if isinstance(assignees, list) else []
    return SyncEvent(
        event_type=str(event["event_type"]),
        pagerduty_id=str(data["id"]),
        incident_key=key if isinstance(key, str) and key else None,
        occurred_at=occurred_at,
        agent=_summary(event.get("agent")),
        assignees=tuple(name for name in names if name),
    )


ADAPTER = Adapter(source=SOURCE, verify=verify, parse=parse, delivery_key=delivery_key)
