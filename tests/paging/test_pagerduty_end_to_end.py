"""PagerDuty end to end: the real ``pagerduty`` client talks HTTPS (a self-signed CA set in
INCIDENTS_PAGERDUTY_CA_BUNDLE) to a fake PagerDuty, Slack is the fake Slack Web API.

Done when (issue 8): a SEV1 declared in Slack pages PagerDuty once, an acknowledgement in
PagerDuty shows on the Slack card, and resolving anywhere resolves everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.outbox.runtime import build_worker
from incidents.store.models import Incident, OutboxMessage, TimelineEntry
from tests.fake_pagerduty import API_TOKEN, ROUTING_KEY, fake_pagerduty, on_call, service
from tests.fake_slack import TOKEN, fake_slack
from tests.fakes import FrozenClock
from tests.paging.test_two_way_sync import pd_event
from tests.slack.test_commands import SECRET, SlackClient, text_of

T0 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
PD_SECRET = "pd-webhook-secret-e2e"


@pytest.fixture
def world(engine, database_url):
    with fake_slack() as (slack_url, workspace), fake_pagerduty() as (pd_url, ca, pagerduty):
        settings = Settings(
            database_url=database_url, slack_api_url=slack_url, slack_bot_token=TOKEN,
            slack_signing_secret=SECRET, update_cadence="off",
            pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=pd_url,
            pagerduty_api_url=pd_url, pagerduty_api_token=API_TOKEN, pagerduty_ca_bundle=ca,
            pagerduty_webhook_secret=PD_SECRET,
        )  # fmt: skip
        clock = FrozenClock(T0)
        app = create_app(settings, engine=engine, clock=clock, run_worker=False)
        worker = build_worker(engine, settings=settings, clock=clock)
        with TestClient(app) as client:
            yield client, workspace, pagerduty, worker, clock


def drain(worker) -> None:
    while worker.run_once():
        pass


def actions(pagerduty) -> list[str]:
    return [event.body["event_action"] for event in pagerduty.accepted()]


def from_pagerduty(client: TestClient, body: dict[str, Any], webhook_id: str):
    raw = json.dumps(body).encode()
    signature = hmac.new(PD_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return client.post("/webhooks/pagerduty", content=raw, headers={
        "content-type": "application/json", "x-pagerduty-signature": f"v1={signature}",
        "x-webhook-id": webhook_id})  # fmt: skip


def channel_of(engine) -> str:
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None and incident.slack_channel is not None
        return incident.slack_channel


def card(workspace, engine) -> str:
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None and incident.slack_channel and incident.slack_card_ts
        messages = workspace.messages[incident.slack_channel]
        return str(next(m["text"] for m in messages if m["ts"] == incident.slack_card_ts))


def test_sev1_from_slack_pages_once_ack_in_pagerduty_shows_resolve_here_resolves_there(
    world, engine
):
    client, workspace, pagerduty, worker, clock = world
    slack = SlackClient(client)
    assert "Declared INC-1 (SEV1)" in text_of(slack.command("declare sev1 Checkout is down"))
    drain(worker)
    drain(worker)
    (page,) = pagerduty.accepted()
    assert page.body["routing_key"] == ROUTING_KEY and page.body["dedup_key"] == "INC-1"
    assert page.body["payload"]["summary"] == "INC-1 SEV1: Checkout is down"
    assert page.body["payload"]["severity"] == "critical"
    assert page.body["links"][0]["href"] == "http://127.0.0.1:8000/api/incidents/INC-1"
    assert page.headers["user-agent"].startswith("python-pagerduty/7.")

    clock.advance(minutes=4)
    ack = pd_event("acknowledged", occurred_at="2026-11-25T15:03:00Z")
    assert from_pagerduty(client, ack, "W1").status_code == 202
    drain(worker)
    assert card(workspace, engine) == "INC-1 SEV1 acknowledged: Checkout is down"
    assert actions(pagerduty) == ["trigger"], "the acknowledgement is not echoed back"

    channel = channel_of(engine)
    assert "is now resolved" in text_of(slack.command("resolve fixed the config", channel=channel))
    drain(worker)
    assert actions(pagerduty) == ["trigger", "resolve"]
    assert card(workspace, engine) == "INC-1 SEV1 resolved: Checkout is down"


def test_resolving_in_pagerduty_resolves_here_and_on_the_card(world, engine):
    client, workspace, pagerduty, worker, clock = world
    client.post("/api/incidents", json={"title": "Search down", "severity": "SEV2"})
    drain(worker)
    drain(worker)
    clock.advance(minutes=10)
    resolved = pd_event("resolved", occurred_at="2026-11-25T15:09:00Z")
    assert from_pagerduty(client, resolved, "W2").status_code == 202
    drain(worker)
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None and incident.status == "resolved"
        assert incident.resolved_at == datetime(2026, 11, 25, 15, 9, tzinfo=UTC)
    assert card(workspace, engine) == "INC-1 SEV2 resolved: Search down"
    assert actions(pagerduty) == ["trigger"]


def test_an_outage_delays_the_page_and_a_400_is_dead_lettered_with_its_text(world, engine):
    client, _workspace, pagerduty, worker, clock = world
    pagerduty.fail("/v2/enqueue", status=500)
    pagerduty.fail("/v2/enqueue", status=429, retry_after=7)
    client.post("/api/incidents", json={"title": "Payments down", "severity": "SEV1"})
    for _ in range(3):
        drain(worker)
        clock.advance(minutes=5)
    assert [e.status for e in pagerduty.events] == [500, 429, 202], "delayed, not lost"

    rejected = {"status": "invalid event", "message": "Event object is invalid",
                "errors": ["'payload.summary' is too long"]}  # fmt: skip
    pagerduty.fail("/v2/enqueue", status=400, body=rejected)
    client.post("/api/incidents/1/acknowledge")
    drain(worker)
    with Session(engine) as session:
        dead = session.exec(select(OutboxMessage).where(OutboxMessage.state == "dead")).one()
        notes = [e.text or "" for e in session.exec(select(TimelineEntry)).all()]
    assert dead.payload["action"] == "acknowledge"
    assert "'payload.summary' is too long" in (dead.last_error or "")
    assert any("pagerduty.event was not delivered" in n for n in notes)
    assert ROUTING_KEY not in (dead.last_error or "")


def test_on_call_from_the_api_from_slack_and_into_the_channel(world, engine):
    client, workspace, pagerduty, worker, _clock = world
    pagerduty.services["PCHECKOUT"] = service("PCHECKOUT", name="Checkout",
                                              escalation_policy_id="PPOLICY")  # fmt: skip
    pagerduty.oncalls += [
        on_call(user_id="PU1", name="Ada", email="ada@example.com", level=1,
                escalation_policy_id="PPOLICY", schedule="Primary"),
        on_call(user_id="PU2", name="Bob", email="bob@example.com", level=2,
                escalation_policy_id="PPOLICY"),
    ]  # fmt: skip
    workspace.emails["ada@example.com"] = "U0ADA"

    listed = client.get("/api/oncall", params={"service": "checkout"}).json()
    assert listed["pagerduty_service"] == "PCHECKOUT"
    assert [(p["name"], p["escalation_level"]) for p in listed["on_call"]] == [
        ("Ada", 1),
        ("Bob", 2),
    ]
    answer = text_of(SlackClient(client).command("oncall checkout"))
    assert "• L1 <@U0ADA> (Ada) — Primary" in answer and "• L2 Bob" in answer

    client.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV1",
                                        "service": "checkout", "commander": "U0CAROL"})  # fmt: skip
    drain(worker)
    drain(worker)
    assert workspace.members[channel_of(engine)] == {"U0CAROL", "U0ADA"}


def test_on_call_errors_are_clear(world):
    client, _workspace, _pagerduty, _worker, _clock = world
    unknown = client.get("/api/oncall", params={"service": "nowhere"})
    assert unknown.status_code == 404 and "pagerduty_service" in unknown.json()["detail"]
