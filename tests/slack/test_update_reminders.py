"""Stakeholder-update reminders with a frozen clock: due on the severity's cadence, counted
from the last summary, once per due time, never after resolution, no backlog after downtime."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from incidents.store.models import Incident
from tests.slack.conftest import T0


def reminders_after(minutes: float, *, clock, worker, workspace, engine) -> list[str]:
    """Move the clock to T0 + `minutes`, let the worker run, return the reminders so far."""
    clock.current = T0 + _minutes(minutes)
    while worker.run_once():
        pass
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None and incident.slack_channel is not None
        channel = incident.slack_channel
    return [m["text"] for m in workspace.messages.get(channel, []) if "is due" in m["text"]]


def _minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def test_sev1_reminds_every_30_minutes_from_the_last_summary_until_resolved(
    stakeholder_slack, engine
):
    slack_client, api, workspace, worker, clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV1",
                                     "service": "checkout"})  # fmt: skip
    seen = {"clock": clock, "worker": worker, "workspace": workspace, "engine": engine}
    assert reminders_after(0, **seen) == []
    assert reminders_after(29, **seen) == []
    (first,) = reminders_after(30, **seen)
    assert first == (
        ":alarm_clock: A stakeholder update on INC-1 is due (SEV1: every 30m; "
        "none yet). Run `/incident summary` here to post it to <#C0EXECS>."
    )
    assert len(reminders_after(31, **seen)) == 1, "one reminder per due time"
    assert len(reminders_after(44, **seen)) == 1

    clock.current = T0 + _minutes(45)
    slack_client.command("summary #1")
    assert len(reminders_after(60, **seen)) == 1, "the summary at 45m restarted the cadence"
    later = reminders_after(75, **seen)
    assert len(later) == 2 and "the last one was 30m ago" in later[1]

    clock.current = T0 + _minutes(80)
    api.post("/api/incidents/1/resolve")
    assert len(reminders_after(200, **seen)) == 2, "no reminders once resolved"


def test_a_worker_that_was_down_sends_one_reminder_not_a_backlog(stakeholder_slack, engine):
    _slack_client, api, workspace, worker, clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Search slow", "severity": "SEV2"})
    seen = {"clock": clock, "worker": worker, "workspace": workspace, "engine": engine}
    assert reminders_after(1, **seen) == []  # the channel is created
    (only,) = reminders_after(5 * 60 + 10, **seen)
    assert "(SEV2: every 1h; none yet)" in only
    assert "post it." in only, "no stakeholder channel known: the reminder does not invent one"


def test_raising_the_severity_shortens_the_cadence(stakeholder_slack, engine):
    _slack_client, api, workspace, worker, clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Search slow", "severity": "SEV3"})
    seen = {"clock": clock, "worker": worker, "workspace": workspace, "engine": engine}
    assert reminders_after(20, **seen) == []
    api.patch("/api/incidents/1", json={"severity": "SEV1"})
    (due,) = reminders_after(31, **seen)
    assert "(SEV1: every 30m" in due
