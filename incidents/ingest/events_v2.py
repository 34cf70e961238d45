"""PagerDuty Events API v2 bodies, as sent to ``/webhooks/events-v2`` and ``/v2/enqueue`` (§3.2).

Lets anything that already speaks to PagerDuty (Alertmanager's ``pagerduty_configs``, the
``pagerduty`` client, scripts) send to us instead. Group key and fingerprint are the
``dedup_key``; a trigger without one gets a key derived from its ``payload`` so a replayed
event maps to the same alert (PagerDuty would return a fresh UUID, which we cannot repeat).
Validation follows PagerDuty's rules and reports every problem at once, in its wording.

Authentication: when ``INCIDENTS_WEBHOOK_TOKEN`` is set, either ``Authorization: Bearer
<token>`` or a body whose ``routing_key`` is the token (PagerDuty clients cannot send
headers); otherwise open. The routing key is a credential and is never copied to an alert.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus, Link, parse_time
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput, Unauthorized
from incidents.ingest import Adapter, Headers
from incidents.ingest.auth import presented_token, same_secret

SOURCE = "events_v2"
STATUS_MAP: dict[str, AlertStatus] = {
    "trigger": AlertStatus.FIRING,
    "acknowledge": AlertStatus.ACKNOWLEDGED,
    "resolve": AlertStatus.RESOLVED,
}
SEVERITY_MAP: dict[str, Severity] = {
    "critical": Severity.SEV1,
    "error": Severity.SEV2,
    "warning": Severity.SEV3,
    "info": Severity.SEV4,
}
# An acknowledge/resolve without a payload severity must never raise the incident's severity.
FOLLOW_UP_SEVERITY = Severity.SEV4
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024
GENERATED_KEY_LENGTH = 32
LABEL_FIELDS: tuple[str, ...] = ("source", "component", "group", "class")

Problem = tuple[str, str]  # (field, message)


def verify(headers: Headers, body: bytes, settings: Settings, _now: datetime) -> None:
    """Accept the token as bearer or as ``routing_key``, the only credential PagerDuty sends."""
    if settings.webhook_token is None:
        return
    expected = settings.webhook_token.get_secret_value()
    if same_secret(presented_token(headers), expected):
        return
    if same_secret(_routing_key(body), expected):
        return
    raise Unauthorized(
        "missing or wrong credentials: send Authorization: Bearer <token> "
        "or use the webhook token as routing_key"
    )


def _routing_key(body: bytes) -> str | None:
    """Read ``routing_key`` leniently: authentication runs before the body is validated."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    key = decoded.get("routing_key") if isinstance(decoded, Mapping) else None
    return key if isinstance(key, str) else None


def parse(payload: Any, received_at: datetime, _params: Mapping[str, str]) -> list[Alert]:
    """Turn one Events API v2 event into one alert, refusing what PagerDuty would refuse."""
    if not isinstance(payload, Mapping):
        raise InvalidInput(
            "body: Event object format is unrecognized (expected a JSON object)", fields=["body"]
        )
    problems = validation_problems(payload)
    if problems:
        raise InvalidInput(
            "; ".join(message for _, message in problems),
            fields=[name for name, _ in problems],
        )
    status = STATUS_MAP[payload["event_action"]]
    if status is AlertStatus.FIRING:
        return [_trigger(payload, received_at)]
    return [_follow_up(payload, status, received_at)]


def dedup_key_of(alerts: list[Alert]) -> str | None:
    """Return the dedup_key to answer with, as PagerDuty's ``202`` body carries it."""
    return alerts[0].group_key if alerts else None


def generated_dedup_key(body: Any) -> str:
    """Derive a trigger's missing dedup_key from its payload: replays must map to one alert."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:GENERATED_KEY_LENGTH]


def validation_problems(event: Mapping[str, Any]) -> list[Problem]:
    """List every (field, message) the event breaks: PagerDuty answers with all ``errors``."""
    problems = _blank("routing_key", event.get("routing_key"))
    action = event.get("event_action")
    if not isinstance(action, str) or action not in STATUS_MAP:
        problems.append(
            ("event_action", "'event_action' must be one of trigger, acknowledge, resolve")
        )
    required = action in ("acknowledge", "resolve")
    problems += _dedup_key_problems(event.get("dedup_key"), required=required)
    if action == "trigger":
        problems += _payload_problems(event.get("payload"))
    return problems


def _blank(name: str, value: Any) -> list[Problem]:
    """Flag a required string that is absent, not a string, or only whitespace."""
    if isinstance(value, str) and value.strip():
        return []
    return [(name, f"'{name}' is missing or blank")]


def _too_long(name: str, value: Any, limit: int) -> list[Problem]:
    """Flag a string over PagerDuty's length limit."""
    if isinstance(value, str) and len(value) > limit:
        return [(name, f"Length of '{name}' is too long (should be at most {limit} characters)")]
    return []


def _dedup_key_problems(value: Any, *, required: bool) -> list[Problem]:
    """Check dedup_key: a string of at most 255 characters, required to ack or resolve."""
    if value is not None and not isinstance(value, str):
        return [("dedup_key", "'dedup_key' must be a string")]
    if required and _blank("dedup_key", value):
        return _blank("dedup_key", value)
    return _too_long("dedup_key", value, MAX_DEDUP_KEY)


def _payload_problems(body: Any) -> list[Problem]:
    """Check the trigger payload: summary, source and severity are required."""
    if not isinstance(body, Mapping):
        return [("payload", "'payload' is missing or not an object")]
    summary = body.get("summary")
    problems = _blank("payload.summary", summary)
    problems += _too_long("payload.summary", summary, MAX_SUMMARY)
    problems += _blank("payload.source", body.get("source"))
    severity = body.get("severity")
    if _blank("payload.severity", severity):
        problems += _blank("payload.severity", severity)
    elif str(severity).strip().lower() not in SEVERITY_MAP:
        problems.append(
            ("payload.severity", "'payload.severity' must be one of critical, error, warning, info")
        )
    try:
        parse_time(body.get("timestamp"), field_name="payload.timestamp")
    except InvalidInput as exc:
        problems.append(("payload.timestamp", exc.message))
    return problems


def _trigger(event: Mapping[str, Any], received_at: datetime) -> Alert:
    """Build the firing alert of a validated trigger."""
    body: Mapping[str, Any] = event["payload"]
    dedup_key = _given_dedup_key(event) or generated_dedup_key(body)
    starts_at = parse_time(body.get("timestamp"), field_name="payload.timestamp")
    return Alert(
        source=SOURCE,
        fingerprint=dedup_key,
        group_key=dedup_key,
        status=AlertStatus.FIRING,
        severity=SEVERITY_MAP[str(body["severity"]).strip().lower()],
        title=body["summary"],
        summary=body["summary"],
        labels={name: body[name] for name in LABEL_FIELDS if _text(body.get(name))},
        annotations=_details(body.get("custom_details")),
        starts_at=starts_at or received_at,
        links=_links(event),
        service=_service(body),
    )


def _follow_up(event: Mapping[str, Any], status: AlertStatus, received_at: datetime) -> Alert:
    """Build the acknowledged or resolved alert of a validated acknowledge/resolve."""
    dedup_key: str = event["dedup_key"]
    body = event.get("payload")
    body = body if isinstance(body, Mapping) else {}
    summary, severity = body.get("summary"), body.get("severity")
    return Alert(
        source=SOURCE,
        fingerprint=dedup_key,
        group_key=dedup_key,
        status=status,
        severity=SEVERITY_MAP.get(str(severity).strip().lower(), FOLLOW_UP_SEVERITY),
        title=summary if _text(summary) else dedup_key,
        starts_at=received_at,
        ends_at=received_at if status is AlertStatus.RESOLVED else None,
    )


def _given_dedup_key(event: Mapping[str, Any]) -> str | None:
    """Return the sender's dedup_key, treating a blank one as absent (as PagerDuty does)."""
    value = event.get("dedup_key")
    return value if _text(value) else None


def _text(value: Any) -> TypeGuard[str]:
    """Tell whether a value is a non-blank string."""
    return isinstance(value, str) and bool(value.strip())


def _details(custom_details: Any) -> dict[str, str]:
    """Flatten custom_details to str→str annotations (non-strings as compact JSON)."""
    if custom_details is None:
        return {}
    if not isinstance(custom_details, Mapping):
        return {"details": _as_text(custom_details)}  # PagerDuty also accepts a bare string
    return {str(name): _as_text(value) for name, value in custom_details.items()}


def _as_text(value: Any) -> str:
    """Render one detail value: strings as sent, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _links(event: Mapping[str, Any]) -> tuple[Link, ...]:
    """Collect ``links[]`` entries with an href, then ``client_url`` named after the client."""
    items = event.get("links")
    found = [_link(item) for item in (items if isinstance(items, list) else [])]
    client_url, client = event.get("client_url"), event.get("client")
    if _text(client_url):
        found.append(Link(client_url, client if _text(client) else "client"))
    return tuple(link for link in found if link is not None)


def _link(item: Any) -> Link | None:
    """Read one ``links[]`` entry; entries without an href are skipped, not refused."""
    if not isinstance(item, Mapping):
        return None
    href, text = item.get("href"), item.get("text")
    return Link(href, text if isinstance(text, str) else "") if _text(href) else None


def _service(body: Mapping[str, Any]) -> str | None:
    """Name the affected service: custom_details.service, else component, else source."""
    # ``source`` is often a host or a tool name ("Alertmanager"), so it is the last resort.
    details = body.get("custom_details")
    if isinstance(details, Mapping) and _text(details.get("service")):
        return str(details["service"])
    for name in ("component", "source"):
        if _text(body.get(name)):
            return str(body[name])
    return None


# Events repeat by design (the same trigger for the next outage), and their effects are
# idempotent by dedup_key anyway, so a body counts as a retry only for a few minutes.
ADAPTER = Adapter(source=SOURCE, verify=verify, parse=parse, delivery_memory=timedelta(minutes=5))
