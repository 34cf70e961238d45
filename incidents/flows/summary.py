"""The stakeholder summary (DESIGN §8), as data: business impact first, internals last.

Order: one sentence of business impact (money, customers affected); status and what users
see; since when; what we are doing; the ETA — "unknown" unless the incident is over, never
invented; the next update time; on resolution, what changes so it does not recur (the
postmortem's action items). The same ``Summary`` feeds the JSON route and every template.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from incidents.domain.cadence import next_update
from incidents.domain.humanize import format_duration
from incidents.domain.impact_text import affected_line, formula_line
from incidents.domain.lifecycle import ImpactSource
from incidents.domain.money import format_range
from incidents.domain.refs import incident_key
from incidents.domain.timeline import TimelineKind
from incidents.flows import postmortems
from incidents.flows.impact import current_estimate
from incidents.flows.incidents import record_entry
from incidents.flows.ports import Clock, Notifier
from incidents.reports.summary_context import Money, Prevention, Summary
from incidents.store import incidents as store
from incidents.store.models import Incident

USERS_SEE = {
    "triggered": "the problem is ongoing; we are investigating",
    "acknowledged": "the problem is ongoing; responders are working on it",
    "mitigated": "the impact has stopped; we are making sure it stays that way",
    "resolved": "the incident is over",
}
DOING = {
    "triggered": "investigating",
    "acknowledged": "responders are investigating",
    "mitigated": "watching that the mitigation holds, then fixing the cause",
    "resolved": "nothing further; the incident is closed",
}


def summary(
    ref: str | int,
    *,
    session: Session,
    clock: Clock,
    cadence: dict[str, timedelta],
    public_url: str,
) -> Summary:
    """Build the stakeholder summary of an incident from what the database holds now."""
    now = clock.now()
    incident = store.get_incident(session, ref)
    assert incident.id is not None
    key = incident_key(incident.id)
    money = _money(incident, now=now)
    subject = _subject(incident)
    resolved = incident.status == "resolved"
    notes = [
        e.text for e in store.list_timeline(session, incident.id) if e.kind == "note" and e.text
    ]
    return Summary(
        key=key,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        subject=subject,
        headline=_headline(key, subject, money),
        money=money,
        what_users_see=incident.summary or USERS_SEE.get(incident.status, incident.status),
        since=incident.impact_started_at,
        since_known=incident.impact_started_source != ImpactSource.DEFAULTED.value,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        duration=format_duration((incident.mitigated_at or now) - incident.impact_started_at),
        what_we_are_doing=notes[-1] if notes else DOING.get(incident.status, "investigating"),
        eta="resolved" if resolved else "unknown",
        next_update_at=None if resolved else next_update(cadence, incident.severity, now),
        prevention=_prevention(incident.id, session) if resolved else [],
        incident_url=f"{public_url.rstrip('/')}/api/incidents/{key}",
        generated_at=now,
    )


def _subject(incident: Incident) -> str:
    """Name what is affected: service and model, with the slice when scoped to one."""
    subject = " / ".join(p for p in (incident.service, incident.model) if p) or "our service"
    if not incident.slice:
        return subject
    scope = " ".join(f"{name}={incident.slice[name]}" for name in sorted(incident.slice))
    return f"{subject} ({scope})"


def _money(incident: Incident, *, now: datetime) -> Money | None:
    """Return the figure with its texts, or None when no inputs were given."""
    figure = current_estimate(incident, now=now)
    if figure is None:
        return None
    currency = str((incident.impact or {}).get("currency", "EUR"))
    delay = figure.detection_delay
    return Money(
        currency=currency,
        estimate=figure,
        text=format_range(figure.total, currency),
        per_hour_text=format_range(figure.per_hour, currency),
        detection_delay_text=None if delay is None else format_range(delay, currency),
        affected_text=affected_line(figure),
        formula_line=formula_line(figure, currency),
    )


def _headline(key: str, subject: str, money: Money | None) -> str:
    """Return the one sentence of business impact the summary leads with."""
    if money is None:
        return f"{key} affects {subject}; its business impact has not been estimated yet."
    if money.estimate.ongoing:
        cost = f"is putting at risk an estimated {money.text} so far"
    else:
        cost = f"cost an estimated {money.text}"
    return f"{key} on {subject} {cost}; {money.affected_text} affected."


def _prevention(incident_id: int, session: Session) -> list[Prevention]:
    """Return the postmortem's action items that still stand (dropped ones are left out)."""
    view = postmortems.show(incident_id, session=session)
    return [
        Prevention(text=a.text, owner=a.owner, due=a.due, status=a.status)
        for a in view.actions
        if a.status != "dropped"
    ]


def as_json(found: Summary) -> dict[str, Any]:
    """Return the summary as JSON-ready data (amounts as numbers, texts as shown)."""
    money = found.money
    return {
        "incident": found.key,
        "title": found.title,
        "severity": found.severity,
        "business_impact": found.headline,
        "money": None if money is None else _money_json(money),
        "status": found.status,
        "what_users_see": found.what_users_see,
        "since": found.since,
        "since_known": found.since_known,
        "mitigated_at": found.mitigated_at,
        "resolved_at": found.resolved_at,
        "duration": found.duration,
        "what_we_are_doing": found.what_we_are_doing,
        "eta": found.eta,
        "next_update_at": found.next_update_at,
        "prevention": [
            {"text": p.text, "owner": p.owner, "due": p.due, "status": p.status}
            for p in found.prevention
        ],
        "link": found.incident_url,
    }


def _money_json(money: Money) -> dict[str, Any]:
    """Return the figure's numbers and texts."""
    figure = money.estimate
    delay = figure.detection_delay
    return {
        "currency": money.currency,
        "low": figure.total.low,
        "high": figure.total.high,
        "text": money.text,
        "per_hour": {"low": figure.per_hour.low, "high": figure.per_hour.high},
        "detection_delay": None if delay is None else {"low": delay.low, "high": delay.high},
        "affected": {
            "low": figure.affected.low,
            "high": figure.affected.high,
            "unit": figure.unit,
        },  # fmt: skip
        "formula": figure.formula,
        "formula_line": money.formula_line,
        "ongoing": figure.ongoing,
    }


def record_posted(
    ref: str | int,
    *,
    channel: str,
    message: dict[str, Any],
    actor: str | None,
    session: Session,
    clock: Clock,
    notifier: Notifier,
) -> Incident:
    """Queue the summary for `channel` and put it on the timeline (the cadence restarts)."""
    now = clock.now()
    incident = store.get_incident(session, ref, for_update=True)
    record_entry(session, incident, kind=TimelineKind.SUMMARY_POSTED, at=now, now=now,
                 actor=actor, text=f"stakeholder summary posted to {channel}",
                 data={"channel": channel})  # fmt: skip
    notifier.stakeholder_update(session, incident, now=now, channel=channel, message=message)
    session.commit()
    return incident
