"""How often stakeholders hear from us while an incident is open, per severity.

Written as ``SEV1=30m,SEV2=1h,SEV3=4h,SEV4=24h`` (INCIDENTS_UPDATE_CADENCE); ``off`` or ``0``
turns reminders off for a severity (``off`` alone: for all), and a severity left out gets
none either.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_duration
from incidents.errors import InvalidInput, InvalidTime

DEFAULT = "SEV1=30m,SEV2=1h,SEV3=4h,SEV4=24h"
OFF = frozenset({"off", "0", "none", "never"})
# Shorter than this would page the channel more often than anyone can write an update.
MINIMUM = timedelta(minutes=5)


def parse_cadence(text: str) -> dict[str, timedelta]:
    """Read ``SEV1=30m,SEV2=1h`` into intervals by severity name; refuse anything unclear."""
    cadence: dict[str, timedelta] = {}
    if text.strip().lower() in OFF:
        return cadence
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise InvalidInput(f"{part!r}: write SEVERITY=INTERVAL, e.g. SEV1=30m")
        severity = parse_severity(name).value
        if value.strip().lower() in OFF:
            continue
        try:
            interval = parse_duration(value)
        except InvalidTime as exc:
            raise InvalidInput(f"{severity}: {exc.message}") from None
        if interval < MINIMUM:
            raise InvalidInput(f"{severity}: an update every {value.strip()} is too often (≥ 5m)")
        cadence[severity] = interval
    return cadence


def next_update(cadence: dict[str, timedelta], severity: str, after: datetime) -> datetime | None:
    """Return when the next stakeholder update is due, or None when none is scheduled."""
    interval = cadence.get(severity)
    return None if interval is None else after + interval
