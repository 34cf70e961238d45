"""Read incidents for the API, CLI and pages: details with durations, pages of lists, timelines."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from incidents.domain.lifecycle import Durations, ImpactSource, durations
from incidents.errors import InvalidInput
from incidents.flows.incidents import timestamps_of
from incidents.store import incidents as store
from incidents.store import overrides as override_store
from incidents.store.incidents import IncidentFilter
from incidents.store.models import AlertRecord, Incident, Override, TimelineEntry

MAX_ID_DIGITS = 18  # fits a 64-bit integer column


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident with what a reader wants beside it."""

    incident: Incident
    durations: Durations
    alerts: list[AlertRecord]
    overrides: list[Override] = field(default_factory=list)
    updated_at: datetime | None = None  # with the writers' touches (store.updated_at)


@dataclass(frozen=True, slots=True)
class IncidentPage:
    """One page of an incident list and the cursor of the next page (None at the end)."""

    items: list[Incident]
    next_cursor: str | None


def durations_of(incident: Incident) -> Durations:
    """Return the per-incident durations of a stored incident."""
    return durations(
        timestamps_of(incident), impact_source=ImpactSource(incident.impact_started_source)
    )


def show_incident(ref: str | int, *, session: Session) -> IncidentDetail:
    """Return one incident with its durations and alerts."""
    incident = store.get_incident(session, ref)
    alerts = store.list_alerts(session, _id(incident))
    overrides = override_store.listed(session, model=None, incident_id=_id(incident))
    return IncidentDetail(incident=incident, durations=durations_of(incident), alerts=alerts,
                          overrides=overrides,
                          updated_at=store.updated_at(session, incident))  # fmt: skip


def list_incidents(
    *, where: IncidentFilter, limit: int, cursor: str | None, session: Session
) -> IncidentPage:
    """Return one page of incidents, newest first, continuing after `cursor`."""
    before_id = decode_cursor(cursor) if cursor else None
    rows = store.list_incidents(session, where=where, limit=limit + 1, before_id=before_id)
    items = rows[:limit]
    more = len(rows) > limit
    return IncidentPage(items=items, next_cursor=encode_cursor(_id(items[-1])) if more else None)


def timeline(ref: str | int, *, session: Session) -> list[TimelineEntry]:
    """Return an incident's timeline in order."""
    incident = store.get_incident(session, ref)
    return store.list_timeline(session, _id(incident))


def encode_cursor(last_id: int) -> str:
    """Return an opaque cursor that continues after `last_id`."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Read a cursor made by ``encode_cursor``, or raise InvalidInput."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "id" or not number.isdigit() or len(number) > MAX_ID_DIGITS:
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            "invalid cursor: pass back next_cursor unchanged", fields=["cursor"]
        ) from None


def _id(incident: Incident) -> int:
    """Return the id of a stored incident."""
    assert incident.id is not None
    return incident.id
