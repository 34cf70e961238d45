"""What Slack hears about incidents, queued through the outbox in the change's transaction.

A new incident (declared, or opened by an alert at or above
``INCIDENTS_SLACK_CHANNEL_MIN_SEVERITY``) gets a channel ``#inc-<id>-<slug>``; once it
exists, the live card is posted there, known Slack users are invited and the announcement
channel is told. Every later change queues a card refresh, and the card is rendered from the
database when it is delivered, so an old refresh can never show stale data.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import Session

from incidents.catalog import load_catalog
from incidents.config import Settings
from incidents.domain.refs import incident_key
from incidents.domain.severity import Severity
from incidents.errors import DeliveryFailed
from incidents.flows.ports import Clock
from incidents.outbox.worker import AfterHook, Delivery, Handler
from incidents.slack import notifier
from incidents.slack.blocks import IncidentCard, card_text, incident_card
from incidents.slack.oncall import INVITE_ONCALL
from incidents.store import incidents as incident_store
from incidents.store import outbox
from incidents.store.models import Incident

POST_CARD = "slack.post_card"
REFRESH_CARD = "slack.refresh_card"
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
NAME_LIMIT = 80


def channel_name(incident_id: int, title: str) -> str:
    """Return a valid Slack channel name: inc-42-checkout-errors (lowercase, ≤ 80)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"inc-{incident_id}-{slug}"[:NAME_LIMIT].rstrip("-")


class SlackNotifier:
    """Queue Slack side effects for incident changes (implements flows.ports.Notifier)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.min_rank = Severity(settings.slack_channel_min_severity).rank

    def incident_opened(
        self, session: Session, incident: Incident, *, now: datetime, declared: bool
    ) -> None:
        """Queue the incident's channel for declared incidents and severe enough alerts."""
        if not declared and Severity(incident.severity).rank > self.min_rank:
            return
        assert incident.id is not None
        outbox.add_message(
            session,
            topic=notifier.CREATE_CHANNEL,
            key=f"channel:{incident.id}",
            payload={"name": channel_name(incident.id, incident.title), "incident_id": incident.id},
            now=now,
            incident_id=incident.id,
        )

    def incident_changed(self, session: Session, incident: Incident, *, now: datetime) -> None:
        """Queue a card refresh (once a card exists; one waiting refresh is enough, since
        the card is rendered when it is delivered)."""
        if incident.slack_card_ts is None or incident.id is None:
            return
        if outbox.has_pending(session, topic=REFRESH_CARD, incident_id=incident.id):
            return
        outbox.add_message(
            session,
            topic=REFRESH_CARD,
            key=f"refresh:{incident.id}:{uuid.uuid4().hex}",  # every change refreshes
            payload={"incident_id": incident.id},
            now=now,
            incident_id=incident.id,
        )

    def postmortem_finished(
        self, session: Session, incident: Incident, *, now: datetime, digest: str
    ) -> None:
        """Post the postmortem's digest and link in the incident channel."""
        if incident.slack_channel is None or incident.id is None:
            return
        outbox.add_message(
            session,
            topic=notifier.POST_MESSAGE,
            key=f"postmortem:{incident.id}:{now.isoformat()}",
            payload={"channel": incident.slack_channel, "text": digest},
            now=now,
            incident_id=incident.id,
        )

    def stakeholder_update(
        self, session: Session, incident: Incident, *, now: datetime, channel: str,
        message: dict[str, Any],
    ) -> None:  # fmt: skip
        """Post the summary to the stakeholder channel, exactly once per request."""
        assert incident.id is not None
        outbox.add_message(
            session,
            topic=notifier.POST_MESSAGE,
            key=f"summary:{incident.id}:{now.isoformat()}",
            payload={"channel": channel, **message},
            now=now,
            incident_id=incident.id,
        )


def after_hooks(settings: Settings, clock: Clock) -> dict[str, AfterHook]:
    """Return what happens, in the same transaction, once a Slack delivery succeeded."""

    def channel_created(
        session: Session, delivery: Delivery, result: dict[str, Any] | None
    ) -> None:
        incident = incident_store.get_incident(session, delivery.payload["incident_id"])
        channel = (result or {})["channel"]
        incident.slack_channel = channel
        _queue_follow_ups(session, incident, channel, settings=settings, now=clock.now())

    def card_posted(session: Session, delivery: Delivery, result: dict[str, Any] | None) -> None:
        incident = incident_store.get_incident(session, delivery.payload["incident_id"])
        incident.slack_card_ts = (result or {})["ts"]

    return {notifier.CREATE_CHANNEL: channel_created, POST_CARD: card_posted}


def _queue_follow_ups(
    session: Session, incident: Incident, channel: str, *, settings: Settings, now: datetime
) -> None:
    """Post the card, invite the people we know on Slack, announce the incident."""
    assert incident.id is not None
    key = incident_key(incident.id)
    messages: list[tuple[str, str, dict[str, Any]]] = [
        (POST_CARD, f"card:{incident.id}", {"incident_id": incident.id}),
    ]
    people = sorted(
        {p for p in (incident.commander, incident.reporter) if p and SLACK_USER.match(p)}
    )
    if people:
        messages.append(
            (notifier.INVITE, f"invite:{incident.id}", {"channel": channel, "users": people})
        )
    oncall_of = _oncall_service(incident, settings)
    if oncall_of is not None:
        messages.append((INVITE_ONCALL, f"invite-oncall:{incident.id}",
                         {"channel": channel, "service": oncall_of}))  # fmt: skip
    if settings.slack_channel:
        text = f":rotating_light: {key} {incident.severity}: {incident.title} — join <#{channel}>"
        messages.append((notifier.POST_MESSAGE, f"announce:{incident.id}",
                         {"channel": settings.slack_channel, "text": text}))  # fmt: skip
    for topic, message_key, payload in messages:
        outbox.add_message(session, topic=topic, key=message_key, payload=payload, now=now,
                           incident_id=incident.id)  # fmt: skip


def _oncall_service(incident: Incident, settings: Settings) -> str | None:
    """Return the catalog entry whose PagerDuty on-call joins the channel, if there is one."""
    if settings.pagerduty_api_token is None:
        return None
    catalog = load_catalog(settings.runbooks_dir)
    for name in (incident.model, incident.service):
        if name and catalog.pagerduty_service(name):
            return name
    return None


def card_handlers(
    engine: Engine, client: WebClient, *, settings: Settings, clock: Clock
) -> dict[str, Handler]:
    """Return the handlers that post and refresh cards, rendered at delivery time."""

    def render(delivery: Delivery) -> dict[str, Any]:
        with Session(engine) as session:
            incident = incident_store.get_incident(session, delivery.payload["incident_id"])
            alerts = len(incident_store.list_alerts(session, delivery.payload["incident_id"]))
            card = card_of(incident, alerts=alerts, settings=settings, now=clock.now())
            if incident.slack_channel is None:
                raise DeliveryFailed(f"{card.key} has no channel yet")
            body = {"channel": incident.slack_channel, "text": card_text(card),
                    "blocks": incident_card(card), "ts": incident.slack_card_ts}  # fmt: skip
            return body

    def post(delivery: Delivery) -> dict[str, Any] | None:
        return notifier.post(client, delivery, render(delivery))

    def refresh(delivery: Delivery) -> dict[str, Any] | None:
        return notifier.update(client, render(delivery))

    return {POST_CARD: post, REFRESH_CARD: refresh}


def card_of(incident: Incident, *, alerts: int, settings: Settings, now: datetime) -> IncidentCard:
    """Describe a stored incident for the card."""
    assert incident.id is not None
    key = incident_key(incident.id)
    return IncidentCard(
        key=key,
        title=incident.title,
        status=incident.status,
        severity=incident.severity,
        service=incident.service,
        model=incident.model,
        slice=incident.slice,
        commander=_mention(incident.commander),
        impact_started_at=incident.impact_started_at,
        impact_defaulted=incident.impact_started_source == "defaulted",
        detected_at=incident.detected_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        alert_count=alerts,
        runbook_url=incident.runbook,
        link=f"{settings.public_url.rstrip('/')}/api/incidents/{key}",
        now=now,
    )


def _mention(person: str | None) -> str | None:
    """Mention a Slack user by id; show any other name as written."""
    if person and SLACK_USER.match(person):
        return f"<@{person}>"
    return person
