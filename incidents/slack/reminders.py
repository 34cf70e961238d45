"""Remind an incident's channel when a stakeholder update is due (INCIDENTS_UPDATE_CADENCE).

An outbox worker tick looks at open incidents that have a channel. The cadence runs from
the last ``/incident summary`` (or from when the incident was reported); every full
interval since then without a summary is one reminder, queued through the outbox under a
key made of the incident and the due time — so several workers, restarts or a worker that
was down for hours never post a reminder twice or a backlog of them. Resolved incidents get
none.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from incidents.catalog import load_catalog
from incidents.config import Settings
from incidents.domain.humanize import format_duration
from incidents.domain.refs import incident_key
from incidents.domain.timeline import TimelineKind
from incidents.outbox.worker import Tick
from incidents.slack.notifier import POST_MESSAGE
from incidents.store import outbox
from incidents.store.models import Incident, TimelineEntry


def reminder_tick(settings: Settings) -> Tick:
    """Return the worker tick that queues due update reminders."""

    def tick(session: Session, now: datetime) -> None:
        queue_due_reminders(session, now=now, settings=settings)

    return tick


def queue_due_reminders(session: Session, *, now: datetime, settings: Settings) -> int:
    """Queue one reminder per incident whose update is overdue; return how many were new."""
    cadence = settings.cadence
    incidents = session.exec(
        select(Incident).where(
            col(Incident.status) != "resolved", col(Incident.slack_channel).is_not(None)
        )
    ).all()
    last = _last_summaries(session, [i.id for i in incidents if i.id is not None])
    queued = 0
    for incident in incidents:
        interval = cadence.get(incident.severity)
        if interval is None or incident.id is None or incident.slack_channel is None:
            continue
        since = last.get(incident.id)
        due = last_due(since or incident.reported_at, interval, now)
        if due is None:
            continue
        text = reminder_text(incident, interval, since=since, now=now, settings=settings)
        added = outbox.add_message(
            session,
            topic=POST_MESSAGE,
            key=f"reminder:{incident.id}:{due.isoformat()}",
            payload={"channel": incident.slack_channel, "text": text},
            now=now,
            incident_id=incident.id,
        )
        queued += added is not None
    return queued


def last_due(start: datetime, interval: timedelta, now: datetime) -> datetime | None:
    """Return the latest whole interval after `start` that has passed, or None."""
    periods = (now - start) // interval
    return start + periods * interval if periods >= 1 else None


def _last_summaries(session: Session, ids: list[int]) -> dict[int, datetime]:
    """Return when each incident's last stakeholder summary was posted."""
    if not ids:
        return {}
    rows = session.exec(
        select(TimelineEntry.incident_id, func.max(TimelineEntry.at))
        .where(col(TimelineEntry.kind) == TimelineKind.SUMMARY_POSTED.value)
        .where(col(TimelineEntry.incident_id).in_(ids))
        .group_by(col(TimelineEntry.incident_id))
    ).all()
    return dict(rows)


def reminder_text(
    incident: Incident,
    interval: timedelta,
    *,
    since: datetime | None,
    now: datetime,
    settings: Settings,
) -> str:
    """Say that an update is due, how often they are due, and how to post one."""
    assert incident.id is not None
    catalog = load_catalog(settings.runbooks_dir)
    channel = catalog.stakeholder_channel(service=incident.service, model=incident.model)
    channel = channel or settings.slack_stakeholder_channel
    where = f" to <#{channel}>" if channel else ""
    last = f"the last one was {format_duration(now - since)} ago" if since else "none yet"
    return (
        f":alarm_clock: A stakeholder update on {incident_key(incident.id)} is due "
        f"({incident.severity}: every {format_duration(interval)}; {last}). "
        f"Run `/incident summary` here to post it{where}."
    )
