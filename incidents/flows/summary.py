"""The stakeholder summary (DESIGN §8), as data: business impact first, internals last.

Order: one sentence of business impact (money, customers affected); status and what users
see; since when; what we are doing; the ETA — "unknown" unless someone committed to one,
never invented; the next update time; on resolution, what changes so it does not recur.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from incidents.domain.humanize import format_duration
from incidents.domain.money import format_range
from incidents.domain.refs import incident_key
from incidents.flows import postmortems
from incidents.flows.impact import current_estimate
from incidents.flows.ports import Clock
from incidents.store import incidents as store

# How often stakeholders hear from us while an incident is open.
UPDATE_CADENCE = {
    "SEV1": timedelta(minutes=30),
    "SEV2": timedelta(hours=1),
    "SEV3": timedelta(hours=4),
    "SEV4": timedelta(hours=24),
}
USERS_SEE = {
    "triggered": "the problem is ongoing; we are investigating",
    "acknowledged": "the problem is ongoing; responders are working on it",
    "mitigated": "the impact has stopped; we are making sure it stays that way",
    "resolved": "the incident is over",
}


def summary(ref: str | int, *, session: Session, clock: Clock) -> dict[str, Any]:
    """Build the stakeholder summary of an incident from what the database holds now."""
    now = clock.now()
    incident = store.get_incident(session, ref)
    assert incident.id is not None
    key = incident_key(incident.id)
    figure = current_estimate(incident, now=now)
    currency = (incident.impact or {}).get("currency", "EUR")
    money = format_range(figure.total, currency) if figure else None
    subject = " / ".join(p for p in (incident.service, incident.model) if p) or "our service"
    verb = "is putting at risk" if figure and figure.ongoing else "cost"
    impact_sentence = (
        f"{key} on {subject} {verb} an estimated {money} so far."
        if money
        else f"{key} affects {subject}; its business impact has not been estimated yet."
    )
    resolved = incident.status == "resolved"
    notes = [
        e.text for e in store.list_timeline(session, incident.id) if e.kind == "note" and e.text
    ]
    view = postmortems.show(incident.id, session=session)
    return {
        "incident": key,
        "business_impact": impact_sentence,
        "money": None
        if figure is None
        else {
            "currency": currency,
            "low": figure.total.low,
            "high": figure.total.high,
            "per_hour": {"low": figure.per_hour.low, "high": figure.per_hour.high},
            "formula": figure.formula,
            "ongoing": figure.ongoing,
        },
        "status": incident.status,
        "what_users_see": incident.summary or USERS_SEE.get(incident.status, incident.status),
        "since": incident.impact_started_at,
        "duration": format_duration((incident.mitigated_at or now) - incident.impact_started_at),
        "what_we_are_doing": notes[-1] if notes else "investigating",
        "eta": "resolved" if resolved else "unknown",
        "next_update_at": None
        if resolved
        else now + UPDATE_CADENCE.get(incident.severity, timedelta(hours=1)),
        "prevention": [a.text for a in view.actions] if resolved else [],
    }
