"""Edit an incident: descriptive fields and explicit timestamp corrections, all on the timeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidents.domain.lifecycle import ImpactSource, correct
from incidents.domain.refs import slice_key
from incidents.domain.severity import Severity
from incidents.domain.timeinput import ensure_not_future
from incidents.domain.timeline import TimelineKind
from incidents.errors import Conflict, InvalidInput
from incidents.flows.incidents import changes_as_data, record_entry, timestamps_of
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier
from incidents.store import incidents as store
from incidents.store.models import Incident

DESCRIPTIVE = (
    "title",
    "summary",
    "commander",
    "service",
    "model",
    "model_version",
    "severity",
    "slice",
)
REQUIRED_FIELDS = frozenset({"title", "severity"})
# Fields a correction may change; reported_at is the server's own receipt time.
CORRECTABLE = ("impact_started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")
# Stamps that only lifecycle events may set for the first time.
EVENT_STAMPS = {
    "acknowledged_at": "acknowledge",
    "mitigated_at": "mitigate",
    "resolved_at": "resolve",
}


def edit_incident(
    ref: str | int,
    *,
    values: Mapping[str, Any],
    actor: str | None,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
) -> Incident:
    """Apply the given field values; timestamp corrections are validated and recorded."""
    now = clock.now()
    _refuse_nulls(values)
    incident = store.get_incident(session, ref, for_update=True)
    times = {name: values[name] for name in CORRECTABLE if name in values}
    defaulted = incident.impact_started_source == ImpactSource.DEFAULTED.value
    if defaulted and "detected_at" in times and "impact_started_at" not in times:
        times["impact_started_at"] = times["detected_at"]  # a defaulted start follows detection
    if times:
        _correct_times(incident, times, actor=actor, now=now, session=session)
    for name, value in values.items():
        if name in DESCRIPTIVE:
            _edit_field(incident, name, value, actor=actor, now=now, session=session)
    incident.updated_at = now
    notifier.incident_changed(session, incident, now=now)
    session.commit()
    return incident


def _refuse_nulls(values: Mapping[str, Any]) -> None:
    """Refuse unknown fields and clearing a required field or a timestamp."""
    unknown = sorted(set(values) - set(DESCRIPTIVE) - set(CORRECTABLE))
    if unknown:
        raise InvalidInput(f"cannot edit {', '.join(unknown)}", fields=unknown)
    cleared = sorted(
        name
        for name, value in values.items()
        if value is None and (name in REQUIRED_FIELDS or name in CORRECTABLE)
    )
    if cleared:
        raise InvalidInput(f"cannot clear {', '.join(cleared)}", fields=cleared)


def _correct_times(
    incident: Incident,
    times: dict[str, datetime],
    *,
    actor: str | None,
    now: datetime,
    session: Session,
) -> None:
    """Correct stamped timestamps, keeping ordering, and record old and new values."""
    ensure_not_future(dict(times), now=now)
    for name in times:
        if name in EVENT_STAMPS and getattr(incident, name) is None:
            raise Conflict(f"{name} is not set yet: use the {EVENT_STAMPS[name]} action to set it")
    _, changes = correct(timestamps_of(incident), **times)
    if not changes:
        return
    for change in changes:
        setattr(incident, change.field, change.new)
    data: dict[str, Any] = {"changes": changes_as_data(changes)}
    if "impact_started_at" in times and not _follows_detection(incident, times):
        data["impact_started_source"] = {"old": incident.impact_started_source, "new": "human"}
        incident.impact_started_source = ImpactSource.HUMAN.value
    record_entry(
        session,
        incident,
        kind=TimelineKind.CORRECTED,
        at=now,
        now=now,
        actor=actor,
        text="corrected " + ", ".join(c.field for c in changes),
        data=data,
    )


def _follows_detection(incident: Incident, times: dict[str, datetime]) -> bool:
    """Tell whether a defaulted impact start was only moved along with detection."""
    return incident.impact_started_source == ImpactSource.DEFAULTED.value and times.get(
        "impact_started_at"
    ) == times.get("detected_at")


def _edit_field(
    incident: Incident,
    name: str,
    value: Any,
    *,
    actor: str | None,
    now: datetime,
    session: Session,
) -> None:
    """Set one descriptive field and record the change when the value differs."""
    if name == "severity":
        value = Severity(value).value
    old = getattr(incident, name)
    if old == value:
        return
    setattr(incident, name, value)
    if name == "slice":
        incident.slice = value or None
        incident.slice_key = slice_key(value)
    kind = TimelineKind.SEVERITY_CHANGED if name == "severity" else TimelineKind.EDITED
    record_entry(
        session,
        incident,
        kind=kind,
        at=now,
        now=now,
        actor=actor,
        text=f"{name}: {old!r} → {value!r}",
        data={"field": name, "old": old, "new": value},
    )
