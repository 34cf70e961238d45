"""Keep PagerDuty in step with our incidents, through the outbox (DESIGN §12).

PagerDuty knows three states — triggered, acknowledged, resolved — and we remember on the
incident which one it was last told (``pagerduty_status``). Every change of an incident,
from any surface, reconciles that with the incident's status and queues at most one event:
a trigger when an incident at or above ``INCIDENTS_PAGERDUTY_MIN_SEVERITY`` opens (or is
raised to it), acknowledge when someone acknowledges or mitigates, resolve on resolution,
a new trigger on reopen. A change that came *from* PagerDuty (a V3 webhook) sets
``pagerduty_status`` first, so it is never echoed back. Incidents that PagerDuty itself
opened (source ``pagerduty``) are never paged again.

The routing key is the model's, else the service's, in the catalog, else
``INCIDENTS_PAGERDUTY_ROUTING_KEY``; the entry's name is stored (never the key) so
acknowledge and resolve go through the same key as the trigger.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidents.catalog import load_catalog
from incidents.config import Settings
from incidents.domain.severity import Severity
from incidents.store import outbox
from incidents.store.models import Incident

PAGE_TOPIC = "pagerduty.event"
DEFAULT_ROUTE = ""  # pagerduty_routing value meaning "the routing key setting"
# Mitigated means someone is on it: PagerDuty has no such state, acknowledged is closest.
PAGERDUTY_STATE = {
    "triggered": "triggered",
    "acknowledged": "acknowledged",
    "mitigated": "acknowledged",
    "resolved": "resolved",
}
ACTION_FOR = {"triggered": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
STATE_OF = {action: state for state, action in ACTION_FOR.items()}
NEVER_PAGED_SOURCES = frozenset({"pagerduty"})


class PagerNotifier:
    """Queue PagerDuty events for incident changes (implements flows.ports.Notifier)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.min_rank = Severity(settings.pagerduty_min_severity).rank

    def incident_opened(
        self,
        session: Session,
        incident: Incident,
        *,
        now: datetime,
        declared: bool,  # noqa: ARG002 — paging goes by severity, declared or not
    ) -> None:
        """Page for a new incident that is severe enough."""
        self._reconcile(session, incident, now=now)

    def incident_changed(self, session: Session, incident: Incident, *, now: datetime) -> None:
        """Tell PagerDuty what changed (acknowledged, resolved, reopened, raised)."""
        self._reconcile(session, incident, now=now)

    def postmortem_finished(
        self, session: Session, incident: Incident, *, now: datetime, digest: str
    ) -> None:
        """PagerDuty does not hear about postmortems."""

    def stakeholder_update(
        self, session: Session, incident: Incident, *, now: datetime, channel: str,
        message: dict[str, Any],
    ) -> None:  # fmt: skip
        """PagerDuty does not hear about stakeholder summaries."""

    def _reconcile(self, session: Session, incident: Incident, *, now: datetime) -> None:
        """Queue the events that bring PagerDuty to the incident's state."""
        target = PAGERDUTY_STATE[incident.status]
        told = incident.pagerduty_status
        if told is None:
            self._first_page(session, incident, target, now=now)
        elif target != told and not (target == "triggered" and told == "acknowledged"):
            self._queue(session, incident, ACTION_FOR[target], now=now)

    def _first_page(
        self, session: Session, incident: Incident, target: str, *, now: datetime
    ) -> None:
        """Trigger a page (then acknowledge it when the incident already is)."""
        if target == "resolved" or incident.source in NEVER_PAGED_SOURCES:
            return
        if Severity(incident.severity).rank > self.min_rank:
            return
        route = self._route(incident)
        if route is None:
            return
        incident.pagerduty_routing = route
        self._queue(session, incident, "trigger", now=now)
        if target == "acknowledged":
            self._queue(session, incident, "acknowledge", now=now)

    def _route(self, incident: Incident) -> str | None:
        """Return the catalog entry whose routing key pages for it, "" for the default."""
        catalog = load_catalog(self.settings.runbooks_dir)
        found = catalog.paging_route(service=incident.service, model=incident.model)
        if found is not None:
            return found[0]
        return DEFAULT_ROUTE if self.settings.pagerduty_routing_key else None

    def _queue(self, session: Session, incident: Incident, action: str, *, now: datetime) -> None:
        """Queue one event and remember what PagerDuty will know once it is delivered."""
        assert incident.id is not None
        incident.pagerduty_status = STATE_OF[action]
        outbox.add_message(
            session,
            topic=PAGE_TOPIC,
            key=f"pd:{incident.id}:{action}:{uuid.uuid4().hex}",
            payload={"incident_id": incident.id, "action": action},
            now=now,
            incident_id=incident.id,
        )


def paging_configured(settings: Settings) -> bool:
    """Tell whether any routing key exists (the setting, or one in the catalog)."""
    if settings.pagerduty_routing_key is not None:
        return True
    catalog = load_catalog(settings.runbooks_dir)
    entries = [*catalog.services.values(), *catalog.models.values()]
    return any(entry.get("pagerduty_routing_key") for entry in entries)
