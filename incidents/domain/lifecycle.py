"""Incident lifecycle: statuses, the transition table, timestamps and their ordering rules.

Statuses run ``triggered → acknowledged → mitigated → resolved``; skips are allowed
(``triggered → resolved``) and ``resolved → triggered`` happens only as a *reopen*. The
table ``TRANSITIONS`` is the whole rule set; ``apply_event`` is the one function that
moves an incident.

Timestamps (all aware UTC) and their meaning:

- ``impact_started_at``: users or the business were first affected (defaults to
  ``detected_at``, marked ``impact_started_source = "defaulted"``);
- ``detected_at``: monitoring or a person noticed; ``reported_at``: this tool heard of it;
- ``acknowledged_at``: first human acknowledgement; ``mitigated_at``: user impact stopped;
  ``resolved_at``: the incident is over.

Rules:

- *First stamp wins*: an event stamps its field only when it is empty; changing a stamped
  value is an explicit correction (recorded on the timeline with old and new values).
- *Ordering*: impact_started ≤ detected ≤ reported; detected ≤ acknowledged;
  impact_started ≤ mitigated ≤ resolved. Mitigation may precede acknowledgement
  (automatic rollback), so acknowledging a mitigated incident stamps the time and keeps
  the status.
- *Resolution implies mitigation*: resolving an incident whose mitigation was never
  stamped stamps ``mitigated_at`` with the resolution time, because impact cannot outlast
  the incident; the flow notes this on the timeline.
- *Reopen* clears ``mitigated_at`` and ``resolved_at`` (the old values stay on the
  timeline) so durations run to the final resolution; the first acknowledgement stays.

Per-incident durations (``durations``):

- ``time_to_detect`` = detected − impact_started (None when impact start was defaulted);
- ``time_to_acknowledge`` = acknowledged − detected;
- ``time_to_mitigate`` = mitigated − impact_started (the customer-impact duration);
- ``time_to_resolve`` = resolved − impact_started;
- ``time_to_resolve_from_detection`` = resolved − detected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from incidents.errors import IllegalTransition, OrderingViolation


class Status(StrEnum):
    """Where an incident stands."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


class Event(StrEnum):
    """What can happen to an incident's status."""

    ACKNOWLEDGE = "acknowledge"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    REOPEN = "reopen"


class ImpactSource(StrEnum):
    """Where ``impact_started_at`` came from, so metrics can exclude defaulted values."""

    DEFAULTED = "defaulted"
    HUMAN = "human"
    SOURCE = "source"


TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.TRIGGERED, Event.ACKNOWLEDGE): Status.ACKNOWLEDGED,
    (Status.TRIGGERED, Event.MITIGATE): Status.MITIGATED,
    (Status.TRIGGERED, Event.RESOLVE): Status.RESOLVED,
    (Status.ACKNOWLEDGED, Event.MITIGATE): Status.MITIGATED,
    (Status.ACKNOWLEDGED, Event.RESOLVE): Status.RESOLVED,
    # Late acknowledgement after an automatic mitigation: stamps, status unchanged.
    (Status.MITIGATED, Event.ACKNOWLEDGE): Status.MITIGATED,
    (Status.MITIGATED, Event.RESOLVE): Status.RESOLVED,
    (Status.RESOLVED, Event.REOPEN): Status.TRIGGERED,
}

STAMPED_FIELD: dict[Event, str] = {
    Event.ACKNOWLEDGE: "acknowledged_at",
    Event.MITIGATE: "mitigated_at",
    Event.RESOLVE: "resolved_at",
}

# (earlier, later): each pair must satisfy earlier ≤ later when both are set.
ORDERING: tuple[tuple[str, str], ...] = (
    ("impact_started_at", "detected_at"),
    ("detected_at", "reported_at"),
    ("detected_at", "acknowledged_at"),
    ("impact_started_at", "mitigated_at"),
    ("mitigated_at", "resolved_at"),
)

TIMESTAMP_FIELDS: tuple[str, ...] = (
    "impact_started_at",
    "detected_at",
    "reported_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
)


@dataclass(frozen=True, slots=True)
class Timestamps:
    """The six lifecycle timestamps of one incident (aware UTC or None)."""

    impact_started_at: datetime
    detected_at: datetime
    reported_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None

    def get(self, field: str) -> datetime | None:
        """Return the value of timestamp `field`."""
        value: datetime | None = getattr(self, field)
        return value

    def with_values(self, **values: datetime | None) -> Timestamps:
        """Return a copy with some fields replaced."""
        return dataclasses.replace(self, **values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Change:
    """One timestamp that an event or a correction changed."""

    field: str
    old: datetime | None
    new: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of applying an event: new status, new timestamps and what changed."""

    status: Status
    timestamps: Timestamps
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Durations:
    """Per-incident durations as defined in this module's docstring."""

    time_to_detect: timedelta | None
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None
    time_to_resolve_from_detection: timedelta | None


def transition(status: Status, event: Event) -> Status:
    """Return the status after `event`, or raise IllegalTransition naming the current status."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(
            f"cannot {event.value}: the incident is {status.value}", status=status.value
        ) from None


def ordering_violations(ts: Timestamps) -> list[tuple[str, str]]:
    """Return every (earlier, later) pair that is out of order."""
    broken: list[tuple[str, str]] = []
    for earlier, later in ORDERING:
        first, second = ts.get(earlier), ts.get(later)
        if first is not None and second is not None and first > second:
            broken.append((earlier, later))
    return broken


def check_ordering(ts: Timestamps) -> None:
    """Raise OrderingViolation naming the fields when any ordering rule is broken."""
    broken = ordering_violations(ts)
    if not broken:
        return
    described = "; ".join(
        f"{earlier} ({_iso(ts.get(earlier))}) must not be after {later} ({_iso(ts.get(later))})"
        for earlier, later in broken
    )
    fields = sorted({name for pair in broken for name in pair})
    raise OrderingViolation(f"timestamps out of order: {described}", fields=fields)


def apply_event(status: Status, ts: Timestamps, event: Event, *, at: datetime) -> Outcome:
    """Apply `event` at time `at`: transition, stamp (first wins), check ordering."""
    new_status = transition(status, event)
    values = _stamps_for(event, ts, at=at, status=status)
    new_ts = ts.with_values(**values)
    check_ordering(new_ts)
    changes = tuple(Change(name, ts.get(name), value) for name, value in values.items())
    return Outcome(new_status, new_ts, changes)


def _stamps_for(
    event: Event, ts: Timestamps, *, at: datetime, status: Status
) -> dict[str, datetime | None]:
    """Return the timestamp fields `event` sets, honouring first-stamp-wins."""
    if event is Event.REOPEN:
        return {"mitigated_at": None, "resolved_at": None}
    field = STAMPED_FIELD[event]
    if event is Event.ACKNOWLEDGE and ts.acknowledged_at is not None and status is Status.MITIGATED:
        # Acknowledging a mitigated incident only stamps; with a stamp already there it is a no-op.
        raise IllegalTransition(
            f"cannot acknowledge: already acknowledged at {_iso(ts.acknowledged_at)}",
            status=status.value,
        )
    values: dict[str, datetime | None] = {}
    if ts.get(field) is None:
        values[field] = at
    if event is Event.RESOLVE and ts.mitigated_at is None:
        values["mitigated_at"] = at
    return values


def correct(ts: Timestamps, **values: datetime) -> tuple[Timestamps, tuple[Change, ...]]:
    """Apply explicit timestamp corrections, check ordering, and list what changed."""
    unknown = sorted(set(values) - set(TIMESTAMP_FIELDS))
    if unknown:
        raise ValueError(f"not timestamp fields: {', '.join(unknown)}")
    new_ts = ts.with_values(**values)
    check_ordering(new_ts)
    changes = tuple(
        Change(name, ts.get(name), value) for name, value in values.items() if ts.get(name) != value
    )
    return new_ts, changes


def durations(ts: Timestamps, *, impact_source: ImpactSource) -> Durations:
    """Compute the per-incident durations; None where an end point is missing."""
    impact = None if impact_source is ImpactSource.DEFAULTED else ts.impact_started_at
    return Durations(
        time_to_detect=_between(impact, ts.detected_at),
        time_to_acknowledge=_between(ts.detected_at, ts.acknowledged_at),
        time_to_mitigate=_between(ts.impact_started_at, ts.mitigated_at),
        time_to_resolve=_between(ts.impact_started_at, ts.resolved_at),
        time_to_resolve_from_detection=_between(ts.detected_at, ts.resolved_at),
    )


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    """Return end − start, or None when either is missing."""
    if start is None or end is None:
        return None
    return end - start


def _iso(value: datetime | None) -> str:
    """Format a timestamp for an error message."""
    return "unset" if value is None else value.isoformat(timespec="seconds")
