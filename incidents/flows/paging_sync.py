"""Two-way sync: PagerDuty V3 webhooks about an incident we paged update ours.

Linked by the PagerDuty incident's ``incident_key`` (our dedup key, e.g. ``INC-42``) or by
the PagerDuty incident id we stored from an earlier event. ``incident.acknowledged`` and
``incident.resolved`` move our incident at the event's ``occurred_at`` with the PagerDuty
user as actor; ``incident.reassigned`` goes on the timeline; our own page coming back as
``incident.triggered`` only records the PagerDuty id (it must not open a second incident).
PagerDuty's state is recorded first, so the change is never sent back to it. Events for
incidents we did not page fall through to ordinary alert intake (which ignores an
acknowledgement or resolution of an incident it does not know).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, col, select

from incidents.domain.lifecycle import Event
from incidents.domain.timeline import TimelineKind
from incidents.errors import OrderingViolation
from incidents.flows import incidents as lifecycle
from incidents.flows.incidents import record_entry
from incidents.flows.intake import IntakeResult
from incidents.flows.ports import Clock, Notifier
from incidents.ingest.pagerduty import SOURCE, SyncEvent
from incidents.store import intake as intake_store
from incidents.store.models import Incident

OUR_KEY = re.compile(r"^INC-(\d{1,18})$")
ACTOR = "PagerDuty"


def linked_incident(session: Session, event: SyncEvent) -> Incident | None:
    """Return the incident we paged that this event is about, if any."""
    match = OUR_KEY.match(event.incident_key or "")
    if match:
        found = session.get(Incident, int(match.group(1)), with_for_update=True)
        if found is not None and found.pagerduty_status is not None:
            return found
    return session.exec(
        select(Incident)
        .where(col(Incident.pagerduty_incident_id) == event.pagerduty_id)
        .where(col(Incident.pagerduty_status).is_not(None))
        .with_for_update()
    ).first()


def receive_sync(
    event: SyncEvent, *, delivery_key: str, session: Session, clock: Clock, notifier: Notifier
) -> IntakeResult | None:
    """Apply the event to the incident we paged; None when we did not page it."""
    incident = linked_incident(session, event)
    if incident is None or incident.id is None:
        session.rollback()
        return None
    now = clock.now()
    claim = intake_store.claim_delivery(session, source=SOURCE, key=delivery_key, now=now,
                                        memory=intake_store.DELIVERY_MEMORY)  # fmt: skip
    if claim.seen:
        stored = dict(claim.result or {})
        session.rollback()
        return IntakeResult(alerts=0, incidents=list(stored.get("incidents", [])), duplicate=True)
    result = IntakeResult(alerts=0, incidents=[incident.id], extra={"synced": event.event_type})
    intake_store.record_result(session, claim, result.as_stored())
    incident.pagerduty_incident_id = event.pagerduty_id
    _apply(incident, event, session=session, clock=clock, notifier=notifier)
    session.commit()
    return result


def _apply(
    incident: Incident, event: SyncEvent, *, session: Session, clock: Clock, notifier: Notifier
) -> None:
    """Carry PagerDuty's change over to our incident (recording PagerDuty's state first)."""
    who = event.agent or ACTOR
    if event.event_type == "incident.acknowledged":
        if incident.pagerduty_status == "triggered":
            incident.pagerduty_status = "acknowledged"
        if incident.acknowledged_at is None and incident.status != "resolved":
            _move(incident, Event.ACKNOWLEDGE, who, event.occurred_at, session, clock, notifier)
    elif event.event_type == "incident.resolved":
        incident.pagerduty_status = "resolved"
        if incident.status != "resolved":
            _move(incident, Event.RESOLVE, who, event.occurred_at, session, clock, notifier)
    elif event.event_type == "incident.reassigned":
        names = ", ".join(event.assignees) or "nobody"
        now = clock.now()
        record_entry(session, incident, kind=TimelineKind.NOTE, at=min(event.occurred_at, now),
                     now=now, actor=who, text=f"PagerDuty reassigned it to {names}",
                     data={"pagerduty": event.event_type})  # fmt: skip
        notifier.incident_changed(session, incident, now=now)


def _move(
    incident: Incident,
    event: Event,
    actor: str,
    occurred_at: datetime,
    session: Session,
    clock: Clock,
    notifier: Notifier,
) -> None:
    """Apply a lifecycle event at PagerDuty's time, or now when that breaks the ordering."""
    assert incident.id is not None
    at = min(occurred_at, clock.now())
    try:
        lifecycle.change_status(incident.id, event, actor=actor, at=at, note="from PagerDuty",
                                session=session, clock=clock, notifier=notifier)  # fmt: skip
    except OrderingViolation:
        lifecycle.change_status(incident.id, event, actor=actor, at=None, note="from PagerDuty",
                                session=session, clock=clock, notifier=notifier)  # fmt: skip
