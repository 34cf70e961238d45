"""Prometheus Alertmanager webhook (payload version "4"), wire-formats §1.

Group key: ``groupKey``. Fingerprint: the alert's own (FNV-1a of its labels, recomputed
when absent). ``startsAt`` is detection; ``endsAt`` of year 1 means still firing. ``null``
maps count as ``{}``; unknown fields are ignored. Authentication: the webhook token as
bearer or as basic-auth password (Alertmanager does not sign bodies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from incidents.config import Settings
from incidents.domain.alert import (
    Alert,
    AlertStatus,
    Link,
    fnv1a_fingerprint,
    parse_time,
    severity_from_labels,
    slice_from_labels,
    string_map,
)
from incidents.errors import InvalidInput
from incidents.ingest import Adapter, Headers
from incidents.ingest.auth import require_token

SOURCE = "alertmanager"
STATUS_MAP: dict[str, AlertStatus] = {
    "firing": AlertStatus.FIRING,
    "resolved": AlertStatus.RESOLVED,
}
# (annotation or field, link text) pairs that become links on the alert.
LINK_ANNOTATIONS: tuple[tuple[str, str], ...] = (
    ("runbook_url", "runbook"),
    ("dashboard_url", "dashboard"),
)


def verify(headers: Headers, _body: bytes, settings: Settings, _now: datetime) -> None:
    """Require the webhook token (bearer or basic-auth password)."""
    require_token(headers, settings.webhook_token)


def parse(payload: Any, _received_at: datetime, _params: Mapping[str, str]) -> list[Alert]:
    """Turn one Alertmanager notification into alerts."""
    return parse_group(payload, source=SOURCE)


def parse_group(
    payload: Any, *, source: str, link_fields: Sequence[tuple[str, str]] = ()
) -> list[Alert]:
    """Parse the Alertmanager-shaped group shared by Alertmanager and Grafana."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("body: expected a JSON object", fields=["body"])
    group_key = payload.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise InvalidInput("groupKey: required, a non-empty string", fields=["groupKey"])
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise InvalidInput("alerts: required, a list", fields=["alerts"])
    return [
        _alert(item, index, source=source, group_key=group_key, link_fields=link_fields)
        for index, item in enumerate(alerts)
    ]


def _alert(
    item: Any,
    index: int,
    *,
    source: str,
    group_key: str,
    link_fields: Sequence[tuple[str, str]],
) -> Alert:
    """Parse one entry of ``alerts[]``."""
    where = f"alerts[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: expected an object", fields=[where])
    status = STATUS_MAP.get(str(item.get("status", "")).lower())
    if status is None:
        raise InvalidInput(
            f"{where}.status: must be firing or resolved", fields=[f"{where}.status"]
        )
    labels = string_map(item.get("labels"), field_name=f"{where}.labels")
    annotations = string_map(item.get("annotations"), field_name=f"{where}.annotations")
    starts_at = parse_time(item.get("startsAt"), field_name=f"{where}.startsAt")
    if starts_at is None:
        raise InvalidInput(f"{where}.startsAt: required", fields=[f"{where}.startsAt"])
    fingerprint = item.get("fingerprint")
    return Alert(
        source=source,
        fingerprint=fingerprint
        if isinstance(fingerprint, str) and fingerprint
        else fnv1a_fingerprint(labels),
        group_key=group_key,
        status=status,
        severity=severity_from_labels(labels),
        title=annotations.get("summary") or labels.get("alertname") or "alert",
        summary=annotations.get("description") or annotations.get("summary"),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=parse_time(item.get("endsAt"), field_name=f"{where}.endsAt"),
        links=_links(item, annotations, link_fields),
        service=labels.get("service"),
        model=labels.get("model"),
        model_version=labels.get("model_version"),
        slice=slice_from_labels(labels),
    )


def _links(
    item: Mapping[str, Any], annotations: Mapping[str, str], link_fields: Sequence[tuple[str, str]]
) -> tuple[Link, ...]:
    """Collect the non-empty links of an alert."""
    links: list[Link] = []
    generator = item.get("generatorURL")
    if isinstance(generator, str) and generator:
        links.append(Link(generator, "source"))
    for name, text in LINK_ANNOTATIONS:
        if annotations.get(name):
            links.append(Link(annotations[name], text))
    for name, text in link_fields:
        value = item.get(name)
        if isinstance(value, str) and value:
            links.append(Link(value, text))
    return tuple(links)


ADAPTER = Adapter(source=SOURCE, verify=verify, parse=parse)
