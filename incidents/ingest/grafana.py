"""Grafana unified alerting webhook contact point (payload version "1"), wire-formats §2.

The body is a superset of Alertmanager's, so parsing reuses ``alertmanager.parse_group``
(group key ``groupKey``, Grafana's own fingerprints, year-1 ``endsAt`` means still firing).
Grafana adds per-alert dashboard, panel, silence and image links, and the query ``values``
that tripped the rule, which are kept as one compact annotation. The legacy (pre-unified)
dashboard-alert format is refused with a message that says how to fix the contact point.

Authentication (§2.2): with ``INCIDENTS_GRAFANA_SECRET`` set, a bare-hex HMAC-SHA256 of the
raw body (or of ``timestamp:body`` when a timestamp header is configured, within ±5 minutes);
otherwise the webhook token as bearer or basic-auth password.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from incidents.config import Settings
from incidents.domain.alert import Alert
from incidents.errors import BadSignature, InvalidInput
from incidents.ingest import Adapter, Headers, header
from incidents.ingest.alertmanager import parse_group
from incidents.ingest.auth import require_hmac, require_token

SOURCE = "grafana"
# (per-alert field, link text) pairs Grafana adds to the Alertmanager shape.
LINK_FIELDS: tuple[tuple[str, str], ...] = (
    ("dashboardURL", "dashboard"),
    ("panelURL", "panel"),
    ("silenceURL", "silence"),
    ("imageURL", "image"),
)
# Top-level keys only the legacy dashboard-alert notification has.
LEGACY_KEYS: tuple[str, ...] = ("evalMatches", "ruleName", "ruleId")
# Annotation that carries Grafana's ``values`` (e.g. "B=44.2, C=1"); a sent one wins.
VALUES_ANNOTATION = "grafana_values"


def verify(headers: Headers, body: bytes, settings: Settings, now: datetime) -> None:
    """Authenticate by HMAC when a Grafana secret is configured, else by the webhook token."""
    if settings.grafana_secret is None:
        require_token(headers, settings.webhook_token)
        return
    timestamp: str | None = None
    if settings.grafana_timestamp_header:
        timestamp = header(headers, settings.grafana_timestamp_header)
        if timestamp is None:
            raise BadSignature(f"missing {settings.grafana_timestamp_header} header")
    require_hmac(
        body,
        signature=header(headers, settings.grafana_signature_header),
        secret=settings.grafana_secret.get_secret_value(),
        timestamp=timestamp,
        now=now,
    )


def parse(payload: Any, _received_at: datetime, _params: Mapping[str, str]) -> list[Alert]:
    """Turn one Grafana notification into alerts, refusing the legacy format it resembles."""
    _refuse_legacy(payload)
    alerts = parse_group(payload, source=SOURCE, link_fields=LINK_FIELDS)
    return [
        _with_values(alert, item) for alert, item in zip(alerts, payload["alerts"], strict=True)
    ]


def _refuse_legacy(payload: Any) -> None:
    """Explain the legacy format instead of failing on ``groupKey``, so the sender can fix it."""
    if not isinstance(payload, Mapping) or isinstance(payload.get("alerts"), list):
        return
    if any(key in payload for key in LEGACY_KEYS):
        raise InvalidInput(
            "body: this is Grafana's legacy (pre-unified) dashboard alerting format, which is "
            "not supported; send from a Grafana unified-alerting webhook contact point instead",
            fields=["body"],
        )


def _with_values(alert: Alert, item: Any) -> Alert:
    """Keep the values that tripped the rule: responders want the number, not only the name."""
    values = item.get("values") if isinstance(item, Mapping) else None
    if not isinstance(values, Mapping) or not values or VALUES_ANNOTATION in alert.annotations:
        return alert
    compact = ", ".join(f"{name}={json.dumps(values[name])}" for name in sorted(values))
    return replace(alert, annotations={**alert.annotations, VALUES_ANNOTATION: compact})


ADAPTER = Adapter(source=SOURCE, verify=verify, parse=parse)
