"""Declared and alert-opened incidents get a channel and a live card on a fake Slack;
every change from the API, a webhook or the CLI shows on the card."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from incidents.api.app import create_app
from incidents.cli import app as cli
from incidents.config import Settings
from incidents.outbox.runtime import build_worker
from incidents.slack.blocks import IncidentCard, incident_card
from incidents.slack.effects import channel_name
from incidents.store.models import Incident
from tests.fake_slack import TOKEN, fake_slack
from tests.fakes import FrozenClock
from tests.payloads import raw

T0 = datetime(2026, 11, 25, 15, 42, tzinfo=UTC)


@pytest.fixture
def slack_app(engine, database_url):
    with fake_slack() as (url, workspace):
        # These tests jump the clock by hours: update reminders are tested on their own.
        settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                            slack_channel="C0ANNOUNCE", webhook_token="hook-token-1",
                            update_cadence="off")  # fmt: skip
        clock = FrozenClock(T0)
        worker = build_worker(engine, settings=settings, clock=clock)
        app = create_app(settings, engine=engine, clock=clock, run_worker=False)
        with TestClient(app) as client:
            yield client, workspace, worker, settings, clock


def drain(worker) -> None:
    while worker.run_once():
        pass


def card_texts(workspace, channel: str) -> list[str]:
    return [m["text"] for m in workspace.messages.get(channel, [])]


def test_declare_creates_channel_card_and_announcement_then_follows_changes(slack_app, engine):
    client, workspace, worker, settings, clock = slack_app
    created = client.post("/api/incidents", json={"title": "Checkout errors!", "severity": "SEV2",
                                                  "commander": "U0ALICE"}).json()  # fmt: skip
    drain(worker)
    with Session(engine) as session:
        incident = session.get(Incident, created["id"])
        assert incident is not None and incident.slack_channel and incident.slack_card_ts
        channel = incident.slack_channel
    assert workspace.channels[channel] == "inc-1-checkout-errors"
    assert workspace.members[channel] == {"U0ALICE"}
    (announcement,) = card_texts(workspace, "C0ANNOUNCE")
    assert "INC-1 SEV2: Checkout errors!" in announcement and f"<#{channel}>" in announcement
    assert card_texts(workspace, channel) == ["INC-1 SEV2 triggered: Checkout errors!"]

    clock.advance(minutes=2)
    client.post("/api/incidents/1/acknowledge", json={"actor": "U0ALICE"})
    drain(worker)
    assert card_texts(workspace, channel) == ["INC-1 SEV2 acknowledged: Checkout errors!"]

    clock.advance(minutes=2)
    env = {"INCIDENTS_DATABASE_URL": settings.database_url, "INCIDENTS_SLACK_BOT_TOKEN": TOKEN,
           "INCIDENTS_SLACK_API_URL": settings.slack_api_url}  # fmt: skip
    assert CliRunner().invoke(cli, ["mitigate", "1"], env=env).exit_code == 0
    clock.current = datetime.now(UTC) + timedelta(seconds=1)  # the CLI used the real clock
    drain(worker)
    assert card_texts(workspace, channel) == ["INC-1 SEV2 mitigated: Checkout errors!"]
    assert workspace.count("chat.postMessage") == 2, "the card is updated in place, not reposted"


def test_a_burst_of_changes_queues_one_refresh(slack_app, engine):
    client, workspace, worker, _, clock = slack_app
    client.post("/api/incidents", json={"title": "x", "severity": "SEV1"})
    drain(worker)
    for minute in range(1, 6):
        clock.advance(minutes=1)
        client.post("/api/incidents/1/notes", json={"text": f"update {minute}"})
        client.patch("/api/incidents/1", json={"summary": f"step {minute}"})
    drain(worker)
    assert workspace.count("chat.update") <= 1


def test_a_severe_alert_opens_a_channel_and_a_mild_one_does_not(slack_app):
    client, workspace, worker, _, _ = slack_app
    auth = {"Authorization": "Bearer hook-token-1"}
    body = raw("alertmanager/webhook_v4_firing_two_alerts.json")  # severity critical: SEV1
    assert client.post("/webhooks/alertmanager", content=body, headers=auth).status_code == 202
    mild = raw("alertmanager/webhook_v4_firing_no_generator_url.json")  # warning: SEV3
    assert client.post("/webhooks/alertmanager", content=mild, headers=auth).status_code == 202
    drain(worker)
    names = set(workspace.channels.values())
    assert "inc-1-checkout-5xx-ratio-above-5" in names
    assert not any(name.startswith("inc-2") for name in names)
    resolved = raw("alertmanager/webhook_v4_resolved.json")
    partly = raw("alertmanager/webhook_v4_firing_one_resolved_one_firing.json")
    client.post("/webhooks/alertmanager", content=partly, headers=auth)
    client.post("/webhooks/alertmanager", content=resolved, headers=auth)
    drain(worker)
    channel = next(c for c, n in workspace.channels.items() if n.startswith("inc-1"))
    assert card_texts(workspace, channel)[0].startswith("INC-1 SEV1 resolved")


def test_channel_names_are_valid_slack_names():
    assert channel_name(42, "Checkout 5xx > 2% (EU)!") == "inc-42-checkout-5xx-2-eu"
    assert len(channel_name(7, "x" * 200)) == 80


def test_card_blocks_show_status_subject_times_and_the_right_buttons():
    card = IncidentCard(
        key="INC-3", title="German chats unhappy", status="acknowledged", severity="SEV2",
        service="support-chat", model="chatbot", slice={"language": "de"}, commander="<@U1>",
        impact_started_at=T0 - timedelta(minutes=30), impact_defaulted=False, detected_at=T0,
        acknowledged_at=T0 + timedelta(minutes=3), mitigated_at=None, resolved_at=None,
        alert_count=2, runbook_url="https://runbooks/slice", link="https://incidents/INC-3",
        now=T0 + timedelta(minutes=40),
    )  # fmt: skip
    blocks = incident_card(card)
    text = str(blocks)
    assert "*INC-3* · *SEV2* · Acknowledged" in text
    assert "support-chat / chatbot / language=de" in text
    assert "1h 10m and counting" in text
    assert f"<!date^{int(T0.timestamp())}^" in text
    buttons = [e["action_id"] for e in blocks[-1]["elements"]]
    assert buttons == ["incident-mitigate", "incident-resolve", "incident-postmortem"]
    done = dataclasses.replace(card, status="resolved", mitigated_at=T0 + timedelta(minutes=20))
    resolved = incident_card(done)
    (actions,) = [block for block in resolved if block["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["incident-postmortem"]
    assert "50m" in str(resolved) and "and counting" not in str(resolved)


def test_the_app_delivers_by_itself_when_slack_is_configured(engine, database_url):
    with fake_slack() as (url, workspace):
        settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                            outbox_poll_interval=0.05)  # fmt: skip
        with TestClient(create_app(settings, engine=engine)) as client:
            client.post("/api/incidents", json={"title": "Disk full", "severity": "SEV1"})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and workspace.count("chat.postMessage") < 1:
                time.sleep(0.05)
        assert "inc-1-disk-full" in workspace.channels.values()
        assert workspace.count("chat.postMessage") == 1, "the card, posted by the app's worker"
