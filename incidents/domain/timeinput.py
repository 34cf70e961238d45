"""The one parser for times that people type, in the actor's timezone.

Accepted forms (case-insensitive):

- ISO 8601 with an offset: ``2026-11-25T09:40:00-05:00``, ``2026-11-25T14:40Z``;
- a local date-time or time with an optional trailing zone: ``2026-11-25 09:40 Europe/Berlin``,
  ``14:05``, ``14:05 CET``, ``yesterday 23:50 Europe/Berlin``, ``today 08:00``; a bare
  date (``2026-11-01``) means its midnight;
- relative: ``now``, ``10m ago``, ``1h30m ago``, ``2 hours ago``, ``3d`` (``ago`` optional).

A local time that does not exist (spring-forward gap) or happens twice (fall-back
overlap) in its zone is refused with the reason and a hint, never guessed; so is a time
in the future. Zone abbreviations map to fixed offsets, so they are never ambiguous.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateparser
from dateutil import tz as datetz

from incidents.errors import InvalidTime

# Clients' clocks drift a little; a time at most this far ahead of ours counts as "now".
FUTURE_TOLERANCE = timedelta(seconds=5)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # no incident predates Unix time

ABBREVIATIONS: dict[str, timedelta] = {
    "utc": timedelta(0),
    "gmt": timedelta(0),
    "z": timedelta(0),
    "wet": timedelta(0),
    "west": timedelta(hours=1),
    "bst": timedelta(hours=1),
    "cet": timedelta(hours=1),
    "cest": timedelta(hours=2),
    "eet": timedelta(hours=2),
    "eest": timedelta(hours=3),
    "msk": timedelta(hours=3),
    "jst": timedelta(hours=9),
    "est": timedelta(hours=-5),
    "edt": timedelta(hours=-4),
    "cst": timedelta(hours=-6),
    "cdt": timedelta(hours=-5),
    "mst": timedelta(hours=-7),
    "mdt": timedelta(hours=-6),
    "pst": timedelta(hours=-8),
    "pdt": timedelta(hours=-7),
}

_UNITS: dict[str, timedelta] = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_UNIT_WORDS = {
    "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "day": "d", "days": "d", "week": "w", "weeks": "w",
}  # fmt: skip
_RELATIVE_PART = re.compile(r"(\d+)\s*([a-z]+)")
_RELATIVE = re.compile(r"^(?:\d+\s*[a-z]+\s*)+(?:ago)?$")
_DAY_WORDS = {"today": 0, "yesterday": -1}


def resolve_zone(name: str) -> tzinfo:
    """Return the tzinfo for an IANA name or a known abbreviation, or raise InvalidTime."""
    offset = ABBREVIATIONS.get(name.lower())
    if offset is not None:
        return datetz.tzoffset(name.upper(), offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTime(f"unknown timezone {name!r}", fields=["timezone"]) from None


def parse_human_time(text: str, *, tz: str, now: datetime, allow_future: bool = False) -> datetime:
    """Parse `text` as typed by a person in zone `tz`; return aware UTC, by default not future."""
    cleaned = " ".join(text.strip().split())
    if not cleaned:
        raise InvalidTime("no time given", fields=["time"])
    lowered = cleaned.lower()
    if lowered == "now":
        return now.astimezone(UTC)
    try:
        if _RELATIVE.match(lowered):
            result = now - _relative_delta(lowered, original=cleaned)
        else:
            result = _parse_absolute(cleaned, default_zone=resolve_zone(tz), now=now)
        result.astimezone(UTC)
    except OverflowError:
        raise InvalidTime(f"{cleaned!r} is too far from now", fields=["time"]) from None
    if result < EARLIEST:
        raise InvalidTime(f"{cleaned!r} is before {EARLIEST:%Y}", fields=["time"])
    if allow_future:
        return result.astimezone(UTC)
    return _not_in_future(result.astimezone(UTC), now=now, text=cleaned)


def parse_duration(text: str) -> timedelta:
    """Read a duration such as '600' (seconds), '10m', '1h30m' or '2 hours'."""
    lowered = " ".join(text.strip().lower().split())
    if lowered.isdigit():
        return timedelta(seconds=int(lowered))
    if not lowered or not _RELATIVE.match(lowered) or lowered.endswith("ago"):
        raise InvalidTime(f"cannot read {text!r} as a duration (e.g. 600, 10m, 1h30m)")
    return _relative_delta(lowered, original=text)


def _relative_delta(lowered: str, *, original: str) -> timedelta:
    """Sum the parts of a relative form such as '1h30m ago'."""
    total = timedelta(0)
    for amount, unit in _RELATIVE_PART.findall(lowered.removesuffix("ago")):
        key = _UNIT_WORDS.get(unit, unit)
        if key not in _UNITS:
            raise InvalidTime(
                f"cannot read {original!r}: unknown unit {unit!r} (use s, m, h, d or w)",
                fields=["time"],
            )
        total += int(amount) * _UNITS[key]
    return total


def _parse_absolute(text: str, *, default_zone: tzinfo, now: datetime) -> datetime:
    """Parse an absolute date-time, taking a trailing zone name and a leading day word."""
    words = text.split(" ")
    zone = default_zone
    if len(words) > 1 and _looks_like_zone(words[-1]):
        zone = resolve_zone(words[-1])
        words = words[:-1]
    day_shift = 0
    if words and words[0].lower() in _DAY_WORDS:
        day_shift = _DAY_WORDS[words[0].lower()]
        words = words[1:]
    local_today = now.astimezone(zone).replace(tzinfo=None)
    default = (local_today + timedelta(days=day_shift)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    body = " ".join(words)
    if not body:
        return _localize(default, zone, text=text)
    try:
        parsed = dateparser.parse(body, default=default)
    except (ValueError, OverflowError) as exc:  # OverflowError: a year beyond 9999
        raise InvalidTime(
            f"cannot read {text!r} as a time ({exc}); try '14:05', "
            "'2026-11-25 09:40 Europe/Berlin' or '10m ago'",
            fields=["time"],
        ) from None
    if day_shift and parsed.date() != default.date():
        raise InvalidTime(f"{text!r} names a day twice", fields=["time"])
    if parsed.tzinfo is not None:
        return parsed
    return _localize(parsed, zone, text=text)


def _looks_like_zone(word: str) -> bool:
    """Tell whether a trailing word names a zone rather than part of the time."""
    return "/" in word or word.lower() in ABBREVIATIONS


def _localize(naive: datetime, zone: tzinfo, *, text: str) -> datetime:
    """Attach `zone` to a wall time, refusing times that DST skips or repeats."""
    aware = naive.replace(tzinfo=zone)
    name = getattr(zone, "key", None) or str(zone)
    if not datetz.datetime_exists(aware):
        raise InvalidTime(
            f"{text!r}: {naive:%Y-%m-%d %H:%M} does not exist in {name} "
            "(the clocks jumped forward over it); give an offset, e.g. 2026-03-29T03:30+02:00",
            fields=["time"],
        )
    if datetz.datetime_ambiguous(aware):
        first = aware.replace(fold=0).strftime("%z")
        second = aware.replace(fold=1).strftime("%z")
        raise InvalidTime(
            f"{text!r}: {naive:%Y-%m-%d %H:%M} happened twice in {name} (the clocks went "
            f"back); add the offset you mean, {first} or {second}",
            fields=["time"],
        )
    return aware


def ensure_not_future(values: dict[str, datetime | None], *, now: datetime) -> None:
    """Raise InvalidTime naming every field whose value lies beyond now (plus tolerance)
    or before 1970 (where converting to UTC could overflow)."""
    early = sorted(name for name, value in values.items() if value and _too_early(value))
    if early:
        raise InvalidTime(f"{', '.join(early)} is before {EARLIEST:%Y}", fields=early)
    late = sorted(
        name for name, value in values.items() if value and value - now > FUTURE_TOLERANCE
    )
    if late:
        raise InvalidTime(
            f"{', '.join(late)} lies in the future; "
            f"now is {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            fields=late,
        )


def _too_early(value: datetime) -> bool:
    """Tell whether a time lies before EARLIEST (or cannot even be converted to UTC)."""
    try:
        return value.astimezone(UTC) < EARLIEST
    except OverflowError:
        return True


def _not_in_future(value: datetime, *, now: datetime, text: str) -> datetime:
    """Refuse times after now (within a small clock-skew tolerance, clamped to now)."""
    if value <= now:
        return value
    if value - now <= FUTURE_TOLERANCE:
        return now.astimezone(UTC)
    raise InvalidTime(
        f"{text!r} ({value:%Y-%m-%d %H:%M:%S} UTC) is in the future; "
        f"now is {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        + (" (for yesterday, start with 'yesterday')" if value - now < timedelta(days=1) else ""),
        fields=["time"],
    )
