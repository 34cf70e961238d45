"""Set and read an incident's business-impact inputs; the figure is recomputed on every read
(so an ongoing incident's cost keeps counting, and a corrected timestamp changes it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidents.domain.impact import Estimate, Window, estimate
from incidents.domain.lifecycle import ImpactSource
from incidents.domain.timeline import TimelineKind
from incidents.errors import InvalidInput
from incidents.flows.incidents import record_entry
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier
from incidents.store import incidents as store
from incidents.store.models import Incident

CURRENCY_LENGTH = 3


def window_of(incident: Incident, *, now: datetime) -> Window:
    """Return the incident's impact window."""
    return Window(
        impact_started_at=incident.impact_started_at,
        detected_at=incident.detected_at,
        mitigated_at=incident.mitigated_at,
        now=now,
        impact_start_known=incident.impact_started_source != ImpactSource.DEFAULTED.value,
    )


def current_estimate(incident: Incident, *, now: datetime) -> Estimate | None:
    """Return the incident's impact figure now, or None when no inputs were given."""
    if not incident.impact:
        return None
    return estimate(
        incident.impact["model"], incident.impact["inputs"], window_of(incident, now=now)
    )


def set_impact(
    ref: str | int,
    *,
    model: str,
    currency: str,
    inputs: Mapping[str, float | Sequence[float]],
    actor: str | None,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> Incident:
    """Validate and store the impact inputs; the change goes on the timeline."""
    code = currency.strip().upper()
    if len(code) != CURRENCY_LENGTH or not code.isalpha():
        raise InvalidInput(
            "currency: use a three-letter code such as EUR or USD", fields=["currency"]
        )
    now = clock.now()
    incident = store.get_incident(session, ref, for_update=True)
    figure = estimate(model, inputs, window_of(incident, now=now))  # validates every input
    stored: dict[str, Any] = {
        "model": model,
        "currency": code,
        "inputs": {name: [r.low, r.high] for name, r in figure.inputs.items()},
    }
    old, incident.impact = incident.impact, stored
    incident.updated_at = now
    record_entry(
        session,
        incident,
        kind=TimelineKind.IMPACT_SET,
        at=now,
        now=now,
        actor=actor,
        text=f"impact inputs set ({model})",
        data={"old": old, "new": stored},
    )
    notifier.incident_changed(session, incident, now=now)
    session.commit()
    return incident
