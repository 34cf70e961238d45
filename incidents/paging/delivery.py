"""Deliver queued PagerDuty events from the outbox, rendered from the incident at delivery.

A queued event names only the incident and the action; the body (summary, severity,
details, links) is read from the database when it is sent, so a retried page carries the
current title and severity. Events of one incident go out in the order they were queued: an
acknowledge waits while that incident's trigger is still being retried, and an event the
incident has since moved past (a trigger or acknowledge after a resolve, a resolve after a
reopen) is skipped rather than sent out of order.
"""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from incidents.catalog import load_catalog
from incidents.config import Settings
from incidents.domain.refs import incident_key
from incidents.errors import DeliveryFailed, InvalidInput
from incidents.outbox.worker import Delivery, Handler
from incidents.paging.events import SEVERITY_TO_PAGERDUTY, PageEvent, events_client, send_event
from incidents.paging.notifier import DEFAULT_ROUTE, PAGE_TOPIC, STATE_OF
from incidents.store import incidents as incident_store
from incidents.store.models import Incident, OutboxMessage
from incidents.store.outbox import OutboxState

SUMMARY_LIMIT = 1024
WEB_LINK = ("http://", "https://")


def pagerduty_handlers(
    engine: Engine, settings: Settings, *, transport: httpx2.BaseTransport | None = None
) -> dict[str, Handler]:
    """Return the outbox handler that sends PagerDuty events."""

    def deliver(delivery: Delivery) -> dict[str, Any] | None:
        action = str(delivery.payload["action"])
        with Session(engine) as session:
            _wait_for_earlier(session, delivery)
            incident = incident_store.get_incident(session, delivery.payload["incident_id"])
            if _moved_past(action, incident.pagerduty_status):
                return {"skipped": f"PagerDuty is to be {incident.pagerduty_status} now"}
            try:
                event = page_event(incident, action, settings=settings)
            except InvalidInput as exc:  # stored data PagerDuty can never accept: stop now
                raise DeliveryFailed(f"cannot page: {exc.message}", permanent=True) from None
            routing_key = _routing_key(incident, settings)
        with events_client(settings, routing_key, transport=transport) as client:
            return send_event(client, event)

    return {PAGE_TOPIC: deliver}


def _wait_for_earlier(session: Session, delivery: Delivery) -> None:
    """Retry later while an earlier event of the same incident is not delivered yet."""
    earlier = session.exec(
        select(OutboxMessage.id)
        .where(col(OutboxMessage.topic) == PAGE_TOPIC)
        .where(col(OutboxMessage.incident_id) == delivery.incident_id)
        .where(col(OutboxMessage.id) < delivery.id)
        .where(
            col(OutboxMessage.state).in_([OutboxState.PENDING.value, OutboxState.DELIVERING.value])
        )  # fmt: skip
        .limit(1)
    ).first()
    if earlier is not None:
        raise DeliveryFailed("an earlier PagerDuty event of this incident is not delivered yet")


def _moved_past(action: str, told: str | None) -> bool:
    """Tell whether the incident has moved on since this event was queued."""
    state = STATE_OF[action]
    if state == told:
        return False
    return not (action == "trigger" and told == "acknowledged")


def _routing_key(incident: Incident, settings: Settings) -> str:
    """Return the routing key that paged the incident (catalog entry, else the setting)."""
    route = incident.pagerduty_routing or DEFAULT_ROUTE
    key: str | None
    if route == DEFAULT_ROUTE:
        secret = settings.pagerduty_routing_key
        key = secret.get_secret_value() if secret else None
    else:
        key = load_catalog(settings.runbooks_dir).routing_key(route)
    if not key:
        where = f"catalog entry {route!r}" if route else "INCIDENTS_PAGERDUTY_ROUTING_KEY"
        raise DeliveryFailed(f"no PagerDuty routing key: set it for {where}", permanent=True)
    return key


def page_event(incident: Incident, action: str, *, settings: Settings) -> PageEvent:
    """Describe the incident to PagerDuty: summary, severity, source, details and links."""
    assert incident.id is not None
    key = incident_key(incident.id)
    if action != "trigger":
        return PageEvent(action=action, dedup_key=key)
    link = f"{settings.public_url.rstrip('/')}/api/incidents/{key}"
    links = [{"href": link, "text": f"{key} in incidents"}]
    if incident.runbook and incident.runbook.startswith(WEB_LINK):
        links.append({"href": incident.runbook, "text": "Runbook"})
    details = {
        "incident": key, "service": incident.service, "model": incident.model,
        "model_version": incident.model_version, "slice": incident.slice,
        "summary": incident.summary, "runbook": incident.runbook, "link": link,
    }  # fmt: skip
    summary = f"{key} {incident.severity}: {incident.title}"
    return PageEvent(
        action="trigger",
        dedup_key=key,
        summary=summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1] + "…",
        source=incident.service or incident.model or "incidents",
        severity=SEVERITY_TO_PAGERDUTY[incident.severity],
        custom_details={name: value for name, value in details.items() if value is not None},
        links=links,
        timestamp=incident.detected_at.isoformat(),
    )
