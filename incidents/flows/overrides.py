"""Routing overrides as localized mitigation (DESIGN §9): route one model's slice to a
fallback, a manual-review queue or a block while the incident lasts.

Applying one stamps ``mitigated_at`` when the incident has none (the slice's users stop
being hurt the moment traffic moves). Overrides end when the incident resolves, when they
expire, or when someone deletes them; each end is on the timeline. The serving layer reads
the active ones; "active" is computed from the clock, so an expired override stops
applying at once even before the worker writes its end to the timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from incidents.catalog import Catalog
from incidents.domain.lifecycle import Event
from incidents.domain.overrides import DEFAULT_TARGETS, OverrideAction, parse_action, traffic_share
from incidents.domain.refs import incident_key, slice_key
from incidents.domain.timeline import TimelineKind
from incidents.errors import Conflict, InvalidInput, NotFound
from incidents.flows import incidents as lifecycle
from incidents.flows.incidents import record_entry
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier
from incidents.store import incidents as incident_store
from incidents.store import overrides as store
from incidents.store.models import Incident, Override

ACTOR = "overrides"


@dataclass(frozen=True, slots=True)
class OverrideRequest:
    """What someone asks for; model and slice default to the incident's own."""

    action: str
    model: str | None = None
    slice: Mapping[str, str] | None = None
    target: str | None = None
    expires_at: datetime | None = None
    actor: str | None = None


def apply_override(
    ref: str | int,
    request: OverrideRequest,
    *,
    catalog: Catalog,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> Override:
    """Create an override on an open incident, mitigating it when it was not yet."""
    now = clock.now()
    incident = incident_store.get_incident(session, ref, for_update=True)
    assert incident.id is not None
    if incident.status == "resolved":
        raise Conflict(f"{incident_key(incident.id)} is resolved: reopen it to add an override")
    override = _new_override(incident, request, catalog=catalog, now=now)
    session.add(override)
    session.flush()
    what = describe(override)
    record_entry(session, incident, kind=TimelineKind.OVERRIDE_APPLIED, at=now, now=now,
                 actor=request.actor, text=f"override #{override.id}: {what}",
                 data={"override_id": override.id, "model": override.model,
                       "slice": override.slice, "action": override.action,
                       "target": override.target, "traffic_share": override.traffic_share,
                       "expires_at": _iso(override.expires_at)})  # fmt: skip
    if incident.mitigated_at is None and incident.status != "mitigated":
        lifecycle.change_status(incident.id, Event.MITIGATE, actor=request.actor, at=None,
                                note=f"mitigated by override #{override.id}: {what}",
                                session=session, clock=clock, notifier=notifier)  # fmt: skip
    else:
        notifier.incident_changed(session, incident, now=now)
        session.commit()
    return override


def _new_override(
    incident: Incident, request: OverrideRequest, *, catalog: Catalog, now: datetime
) -> Override:
    """Validate a request against the incident and build the override."""
    assert incident.id is not None
    model = (request.model or incident.model or "").strip()
    if not model:
        raise InvalidInput("model: required (the incident names no model)", fields=["model"])
    slice_ = dict(request.slice if request.slice is not None else incident.slice or {})
    key = slice_key(slice_)
    if key is None:
        raise InvalidInput('slice: required, e.g. {"language": "de"}', fields=["slice"])
    action = parse_action(request.action)
    if request.expires_at is not None and request.expires_at <= now:
        raise InvalidInput("expires_at: must be in the future", fields=["expires_at"])
    target = None if action is OverrideAction.BLOCK else request.target or DEFAULT_TARGETS[action]
    return Override(
        incident_id=incident.id, model=model, slice=slice_, slice_key=key,
        action=action.value, target=target, created_by=request.actor, created_at=now,
        traffic_share=traffic_share(slice_, catalog.slice_weights(model)),
        expires_at=request.expires_at,
    )  # fmt: skip


def end_override(
    override_id: int,
    *,
    actor: str | None,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> Override:
    """End an override by hand (DELETE); ending an ended one changes nothing."""
    override = session.get(Override, override_id, with_for_update=True)
    if override is None:
        raise NotFound(f"no override {override_id}")
    if override.ended_at is None:
        now = clock.now()
        store.end(session, override, reason="deleted", now=now, actor=actor)
        incident = incident_store.get_incident(session, override.incident_id)
        notifier.incident_changed(session, incident, now=now)
        session.commit()
    return override


def end_due(session: Session, now: datetime) -> None:
    """End expired overrides and those of resolved incidents (a worker tick; no commit)."""
    for override, reason in store.due_to_end(session, now=now):
        store.end(session, override, reason=reason, now=now, actor=ACTOR)


def describe(override: Override) -> str:
    """Say what an override does, in one line."""
    target = f" ({override.target})" if override.target else ""
    share = (
        f", {override.traffic_share:.0%} of {override.model} traffic"
        if override.traffic_share is not None
        else ""
    )
    return f"{override.model} {override.slice_key} → {override.action}{target}{share}"


def guard_rail(override: Override) -> str:
    """Say how much traffic the override moves, or that nobody knows (check it yourself)."""
    if override.traffic_share is None:
        return (
            f"the catalog has no slice weights for {override.model}: check how much traffic "
            f"{override.slice_key} carries and that the {override.action} path can take it"
        )
    dimensions = "" if len(override.slice) == 1 else " (dimensions assumed independent)"
    return (
        f"reroutes about {override.traffic_share:.1%} of {override.model} traffic{dimensions}; "
        f"watch the global SLI without these slices and the {override.action} capacity"
    )


def _iso(value: datetime | None) -> str | None:
    """Return an ISO time for timeline data."""
    return value.isoformat() if value else None
