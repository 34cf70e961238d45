"""Our documented ML-monitor alert (DESIGN §9, reliability-math §4.5): one object or a list.

Group key ``ml:<model>|<slice key>|<signal>``, so several drifting features of one model and
slice are one incident. Fingerprint: a short SHA-256 of model, version, environment, signal,
feature, metric and slice, stable across pushes so a later ``resolved`` finds its firing
alert. Detection is ``detected_at``, else ``window_end``, else receipt; ``window_start`` is
offered as the impact start. Errors in element ``i`` of a list name fields such as
``[2].metric``. Authentication: the webhook token as bearer or basic-auth password.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidents.config import Settings
from incidents.domain.alert import SLICE_LABEL_PREFIX, Alert, AlertStatus, Link, parse_time
from incidents.domain.refs import slice_key
from incidents.domain.severity import Severity, parse_severity
from incidents.errors import InvalidInput
from incidents.ingest import Adapter, Headers, printable_key
from incidents.ingest.auth import require_token

SOURCE = "ml"
STATUS_MAP: dict[str, AlertStatus] = {
    "firing": AlertStatus.FIRING,
    "resolved": AlertStatus.RESOLVED,
}
# Signal type → default severity: broken data and lost accuracy page, drift alone tickets.
SIGNAL_SEVERITY: dict[str, Severity] = {
    "data_quality": Severity.SEV2,
    "performance": Severity.SEV2,
    "slo_burn": Severity.SEV2,
    "prediction_drift": Severity.SEV3,
    "data_drift": Severity.SEV3,
}
# Accepted comparators → how titles and annotations write them.
COMPARATORS: dict[str, str] = {
    ">": ">",
    ">=": ">=",
    "≥": ">=",
    "<": "<",
    "<=": "<=",
    "≤": "<=",
}
# Optional subject fields that become labels of the same name when present.
LABEL_FIELDS: tuple[str, ...] = ("feature", "environment", "model_version", "service")
FINGERPRINT_HEX = 16


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated ML-monitor alert, before it becomes an ``Alert``."""

    model: str
    signal: str
    metric: str
    value: float
    threshold: float
    status: AlertStatus
    slice: dict[str, str]
    texts: dict[str, str]  # the optional text fields that were sent (LABEL_FIELDS, summary)
    comparator: str | None
    severity: Severity
    window_start: datetime | None
    window_end: datetime | None
    detected_at: datetime | None
    links: tuple[Link, ...]


def verify(headers: Headers, _body: bytes, settings: Settings, _now: datetime) -> None:
    """Require the webhook token (bearer or basic-auth password)."""
    require_token(headers, settings.webhook_token)


def parse(payload: Any, received_at: datetime, _params: Mapping[str, str]) -> list[Alert]:
    """Turn one ML-monitor alert, or a list of them, into alerts."""
    if isinstance(payload, Mapping):
        return [_alert(_read(payload, ""), received_at)]
    if isinstance(payload, list):
        return [_alert(_element(item, f"[{i}]"), received_at) for i, item in enumerate(payload)]
    raise InvalidInput("body: expected an ML alert object or a list of them", fields=["body"])


def _element(item: Any, where: str) -> Reading:
    """Read one list element, which must itself be an object."""
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: expected an ML alert object", fields=[where])
    return _read(item, where)


def _read(item: Mapping[str, Any], where: str) -> Reading:
    """Validate every field of one alert object, naming the first wrong one."""
    model = _required_text(item, "model", where)
    metric = _required_text(item, "metric", where)
    signal = _choice(item, "signal", where, SIGNAL_SEVERITY)
    status = _choice(item, "status", where, STATUS_MAP)
    window_start = _time(item, "window_start", where)
    window_end = _time(item, "window_end", where)
    if window_start and window_end and window_start > window_end:
        name = _name(where, "window_start")
        raise InvalidInput(f"{name}: must not be later than window_end", fields=[name])
    texts = {name: _optional_text(item, name, where) for name in (*LABEL_FIELDS, "summary")}
    return Reading(
        model=model,
        signal=signal,
        metric=metric,
        value=_number(item, "value", where),
        threshold=_number(item, "threshold", where),
        status=STATUS_MAP[status],
        slice=_slice(item.get("slice"), _name(where, "slice")),
        texts={name: text for name, text in texts.items() if text is not None},
        comparator=_comparator(item, where),
        severity=_severity(item.get("severity"), _name(where, "severity"), signal),
        window_start=window_start,
        window_end=window_end,
        detected_at=_time(item, "detected_at", where),
        links=_links(item.get("links"), _name(where, "links")),
    )


def _alert(reading: Reading, received_at: datetime) -> Alert:
    """Build the normalised alert from a validated reading."""
    resolved = reading.status is AlertStatus.RESOLVED
    return Alert(
        source=SOURCE,
        fingerprint=_fingerprint(reading),
        group_key=f"ml:{reading.model}|{slice_key(reading.slice) or ''}|{reading.signal}",
        status=reading.status,
        severity=reading.severity,
        title=_title(reading),
        summary=reading.texts.get("summary"),
        labels=_labels(reading),
        annotations=_annotations(reading),
        starts_at=reading.detected_at or reading.window_end or received_at,
        ends_at=(reading.window_end or received_at) if resolved else None,
        links=reading.links,
        service=reading.texts.get("service"),
        model=reading.model,
        model_version=reading.texts.get("model_version"),
        slice=reading.slice or None,
        impact_started_at=reading.window_start,
    )


def _fingerprint(reading: Reading) -> str:
    """Hash what identifies the monitored quantity, so repeated pushes share one identity."""
    texts = reading.texts
    parts = [
        reading.model,
        texts.get("model_version"),
        texts.get("environment"),
        reading.signal,
        texts.get("feature"),
        reading.metric,
        slice_key(reading.slice),
    ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    return digest[:FINGERPRINT_HEX]


def _title(reading: Reading) -> str:
    """Say what crossed which threshold, ``data_drift on m (language=de): psi 0.31 >= 0.25``."""
    where = f" ({slice_key(reading.slice)})" if reading.slice else ""
    feature = reading.texts.get("feature")
    metric = f"{reading.metric}({feature})" if feature else reading.metric
    value, threshold = f"{reading.value:.4g}", f"{reading.threshold:.4g}"
    if reading.comparator is None:
        measured = f"{metric} {value} (threshold {threshold})"
    else:
        measured = f"{metric} {value} {reading.comparator} {threshold}"
    return f"{reading.signal} on {reading.model}{where}: {measured}"


def _labels(reading: Reading) -> dict[str, str]:
    """Expose the subject as labels, which runbooks match on."""
    labels = {"model": reading.model, "signal": reading.signal, "metric": reading.metric}
    labels |= {name: reading.texts[name] for name in LABEL_FIELDS if name in reading.texts}
    labels |= {SLICE_LABEL_PREFIX + dim: value for dim, value in reading.slice.items()}
    return labels


def _annotations(reading: Reading) -> dict[str, str]:
    """Keep the measured numbers exactly, next to the human summary."""
    annotations = {"value": _exact(reading.value), "threshold": _exact(reading.threshold)}
    if reading.comparator is not None:
        annotations["comparator"] = reading.comparator
    if "summary" in reading.texts:
        annotations["summary"] = reading.texts["summary"]
    return annotations


def _exact(number: float) -> str:
    """Write a number without losing digits, and whole numbers without a trailing ``.0``."""
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _name(where: str, name: str) -> str:
    """Return the field path of `name` inside the element at `where` (``[2].metric``)."""
    return f"{where}.{name}" if where else name


def _required_text(item: Mapping[str, Any], name: str, where: str) -> str:
    """Read a required, non-empty string."""
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        field = _name(where, name)
        raise InvalidInput(f"{field}: required, a non-empty string", fields=[field])
    return value.strip()


def _optional_text(item: Mapping[str, Any], name: str, where: str) -> str | None:
    """Read an optional string; numbers are accepted as text (``model_version: 3``)."""
    value = item.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        field = _name(where, name)
        raise InvalidInput(f"{field}: expected a string", fields=[field])
    return str(value).strip() or None


def _choice(item: Mapping[str, Any], name: str, where: str, table: Mapping[str, Any]) -> str:
    """Read a required word that must be a key of `table` (case-insensitive)."""
    value = item.get(name)
    word = value.strip().lower() if isinstance(value, str) else ""
    if word not in table:
        field = _name(where, name)
        raise InvalidInput(f"{field}: required, one of {' | '.join(table)}", fields=[field])
    return word


def _comparator(item: Mapping[str, Any], where: str) -> str | None:
    """Read the optional comparator (>, >=, <, <=)."""
    value = item.get("comparator")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip() not in COMPARATORS:
        field = _name(where, "comparator")
        raise InvalidInput(f"{field}: must be one of >, >=, <, <=", fields=[field])
    return COMPARATORS[value.strip()]


def _number(item: Mapping[str, Any], name: str, where: str) -> float:
    """Read a required finite number; numeric strings such as ``"0.31"`` are accepted."""
    value = item.get(name)
    field = _name(where, name)
    problem = InvalidInput(f"{field}: required, a finite number", fields=[field])
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise problem
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise problem from None
    if not math.isfinite(number):
        raise problem
    return number


def _slice(value: Any, field: str) -> dict[str, str]:
    """Read the slice, a map of dimension names to non-empty strings ({} means global)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        message = f'{field}: expected an object such as {{"language": "de"}}'
        raise InvalidInput(message, fields=[field])
    result: dict[str, str] = {}
    for dim, item in value.items():
        if not isinstance(dim, str) or not dim.strip():
            raise InvalidInput(f"{field}: dimension names must be non-empty", fields=[field])
        if not isinstance(item, str) or not item.strip():
            name = f"{field}.{printable_key(dim.strip())}"
            raise InvalidInput(f"{name}: expected a non-empty string", fields=[name])
        result[dim.strip()] = item.strip()
    return result


def _severity(value: Any, field: str, signal: str) -> Severity:
    """Read the severity override (critical, warning, SEV2, 2…), else the signal's default."""
    if value is None or value == "":
        return SIGNAL_SEVERITY[signal]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(f"{field}: expected SEV1..SEV4 or a word", fields=[field])
    try:
        return parse_severity(str(value))
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc.message}", fields=[field]) from None


def _time(item: Mapping[str, Any], name: str, where: str) -> datetime | None:
    """Read an optional RFC 3339 time as aware UTC."""
    field = _name(where, name)
    try:
        return parse_time(item.get(name), field_name=field)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 lies beyond datetime's range in UTC
        raise InvalidInput(f"{field}: time out of range", fields=[field]) from None


def _links(value: Any, field: str) -> tuple[Link, ...]:
    """Read links given as ``{"href", "text"?}`` objects or bare URL strings."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(f"{field}: expected a list of links", fields=[field])
    return tuple(_link(item, f"{field}[{index}]") for index, item in enumerate(value))


def _link(item: Any, field: str) -> Link:
    """Read one link."""
    if isinstance(item, str) and item.strip():
        return Link(item.strip())
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{field}: expected a URL or {{href, text}}", fields=[field])
    href, text = item.get("href"), item.get("text")
    if not isinstance(href, str) or not href.strip():
        raise InvalidInput(f"{field}.href: required, a URL", fields=[f"{field}.href"])
    if text is not None and not isinstance(text, str):
        raise InvalidInput(f"{field}.text: expected a string", fields=[f"{field}.text"])
    return Link(href.strip(), text or "")


ADAPTER = Adapter(source=SOURCE, verify=verify, parse=parse)
