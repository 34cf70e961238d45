"""On-call in Slack: ``/incident oncall [service]`` and inviting the on-call people into a
new incident channel — PagerDuty says who, Slack's ``users.lookupByEmail`` says which Slack
user that is (bot scope ``users:read.email``); people Slack does not know are named only."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidents.config import Settings
from incidents.errors import InvalidInput
from incidents.outbox.worker import Delivery, Handler
from incidents.paging.directory import who_is_on_call
from incidents.paging.oncall import OnCall
from incidents.reports.render import mrkdwn_filter
from incidents.slack import notifier
from incidents.slack.blocks import slack_date
from incidents.store.models import Incident

INVITE_ONCALL = "slack.invite_oncall"


def service_of(argument: str, incident: Incident | None) -> str:
    """Return the service named in the command, else the incident's service or model."""
    named = argument.strip()
    if named:
        return named
    subject = incident.service or incident.model if incident else None
    if not subject:
        usage = "usage: `/incident oncall <service>` (or run it in its incident's channel)"
        raise InvalidInput(usage, fields=["argument"])
    return subject


def oncall_answer(service: str, *, client: WebClient, settings: Settings) -> str:
    """List who is on call now, with Slack mentions where the email is known to Slack."""
    found = who_is_on_call(service, settings=settings)
    shown = mrkdwn_filter(service)
    if not found.people:
        return f"Nobody is on call for *{shown}* in PagerDuty right now."
    lines = [f"On call for *{shown}* now:"]
    lines.extend(_line(person, slack_user(client, person.email)) for person in found.people)
    return "\n".join(lines)


def _line(person: OnCall, user: str | None) -> str:
    """Describe one on-call person: level, who, which schedule, until when."""
    name = mrkdwn_filter(person.name)
    who = f"<@{user}> ({name})" if user else name
    schedule = f" — {mrkdwn_filter(person.schedule)}" if person.schedule else ""
    until = f", until {slack_date(person.until)}" if person.until else ""
    return f"• L{person.escalation_level} {who}{schedule}{until}"


def slack_user(client: WebClient, email: str | None) -> str | None:
    """Return the Slack user id for an email, or None when Slack does not know it."""
    if not email:
        return None
    try:
        found = client.users_lookupByEmail(email=email)
    except (SlackApiError, OSError):
        return None
    user = found.get("user") or {}
    return str(user["id"]) if user.get("id") else None


def invite_oncall_handler(client: WebClient, settings: Settings) -> dict[str, Handler]:
    """Return the outbox handler inviting the on-call people into an incident channel."""

    def invite(delivery: Delivery) -> dict[str, Any] | None:
        payload = delivery.payload
        found = who_is_on_call(payload["service"], settings=settings)
        users = sorted({u for p in found.people if (u := slack_user(client, p.email))})
        if not users:
            return {"invited": [], "on_call": [p.name for p in found.people]}
        notifier.invite(client, channel=payload["channel"], users=users)
        return {"invited": users}

    return {INVITE_ONCALL: invite}
