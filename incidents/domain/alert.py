"""The normalised alert every ingest adapter produces, and the helpers adapters share.

An ``Alert`` is identified by ``(source, fingerprint, starts_at)``; ``group_key`` decides
which incident it belongs to (one open incident per ``(source, group_key)``). Statuses:

- ``firing``: the condition holds; a firing alert may open or reopen an incident;
- ``resolved``: the condition cleared at ``ends_at``; never opens an incident;
- ``acknowledged``: the sender's own acknowledgement (PagerDuty); stamps the open incident's
  acknowledgement at ``starts_at`` (by ``actor``), adds no alert record and never opens an
  incident.

Vendor times are parsed once, here at the edge, into aware UTC. Alertmanager's year-1
``endsAt`` ("0001-01-01T00:00:00Z") means "no end time".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from incidents.domain.severity import SEVERITY_WORDS, Severity, parse_severity
from incidents.errors import InvalidInput

SLICE_LABEL_PREFIX = "slice_"
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class AlertStatus(StrEnum):
    """What the sender says about the alert."""

    FIRING = "firing"
    RESOLVED = "resolved"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class Link:
    """A link an alert carries (dashboard, runbook, generator, report)."""

    href: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """One normalised alert (DESIGN §5)."""

    source: str
    fingerprint: str
    group_key: str
    status: AlertStatus
    severity: Severity
    title: str
    starts_at: datetime
    summary: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None
    links: tuple[Link, ...] = ()
    service: str | None = None
    model: str | None = None
    model_version: str | None = None
    slice: Mapping[str, str] | None = None
    impact_started_at: datetime | None = None
    actor: str | None = None


def parse_time(value: Any, *, field_name: str) -> datetime | None:
    """Parse an RFC 3339 time with 0–9 fractional digits; None for empty or year-1 values."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field_name}: expected an RFC 3339 time string", fields=[field_name])
    text = value.strip().replace("z", "Z")
    if "." in text:
        text = _FRACTION.sub(r"\1", text)  # Python keeps 6 digits
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field_name}: {value!r} is not an RFC 3339 time", fields=[field_name]
        ) from None
    if parsed.year <= 1:
        return None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{field_name}: {value!r} has no timezone offset", fields=[field_name])
    if parsed.tzinfo is UTC:  # "Z", as nearly every sender writes it: nothing to convert
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"{field_name}: {value!r} is out of range", fields=[field_name]
        ) from None


def severity_from_labels(labels: Mapping[str, str], default: Severity = Severity.SEV3) -> Severity:
    """Map a `severity` or `priority` label (critical, warning, P2, sev1…) to a Severity."""
    for key in ("severity", "priority"):
        value = labels.get(key)
        if not value:
            continue
        word = value.strip().lower()
        if word in SEVERITY_WORDS:
            return SEVERITY_WORDS[word]
        try:
            return parse_severity(word)
        except InvalidInput:
            continue
    return default


def slice_from_labels(labels: Mapping[str, str]) -> dict[str, str] | None:
    """Collect ``slice_<dimension>`` labels into a slice such as ``{"language": "de"}``."""
    found = {
        name.removeprefix(SLICE_LABEL_PREFIX): value
        for name, value in labels.items()
        if name.startswith(SLICE_LABEL_PREFIX) and value
    }
    return found or None


def string_map(value: Any, *, field_name: str) -> dict[str, str]:
    """Read a str→str map; ``null`` counts as empty, other values are stringified."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field_name}: expected an object", fields=[field_name])
    return {str(key): "" if item is None else str(item) for key, item in value.items()}


def fnv1a_fingerprint(labels: Mapping[str, str]) -> str:
    """Return Prometheus' label-set fingerprint (FNV-1a 64 over sorted name\\xffvalue\\xff)."""
    # Hand-written because it is five lines and must match Alertmanager bit for bit (§8.4).
    value = 0xCBF29CE484222325
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"
