"""/incident commands and card buttons, signed end to end through the FastAPI app, with a
fake Slack behind the real clients; unsigned, badly signed and stale requests change nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, select

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.outbox.runtime import build_worker
from incidents.store.models import Incident, TimelineEntry
from tests.fake_slack import TOKEN, fake_slack
from tests.fakes import FrozenClock

SECRET = "slack-signing-secret-for-tests"


class SlackClient:
    """Sends what Slack would send, signed (or not)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def post(self, body: str, *, content_type: str, signed: bool = True, age: int = 0,
             secret: str = SECRET, headers: dict[str, str] | None = None):  # fmt: skip
        timestamp = str(int(time.time()) - age)
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        sent: dict[str, str] = {"content-type": content_type, **(headers or {})}
        if signed:
            sent |= {"x-slack-request-timestamp": timestamp, "x-slack-signature": str(signature)}
        return self.client.post("/slack/events", content=body.encode(), headers=sent)

    def command(self, text: str, *, user: str = "U0ALICE", channel: str = "C0RANDOM", **kw):
        form = {
            "command": "/incident",
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": "T1",
            "trigger_id": "1.2.3",
            "response_url": "http://127.0.0.1:9/",
        }
        return self.post(urlencode(form), content_type="application/x-www-form-urlencoded", **kw)

    def button(self, action_id: str, value: str, *, user: str = "U0BOB"):
        payload = {"type": "block_actions", "user": {"id": user}, "team": {"id": "T1"},
                   "channel": {"id": "C0RANDOM"}, "trigger_id": "1.2.3",
                   "actions": [{"action_id": action_id, "block_id": "b", "value": value,
                                "type": "button", "action_ts": "1.2"}]}  # fmt: skip
        body = "payload=" + quote(json.dumps(payload))
        return self.post(body, content_type="application/x-www-form-urlencoded")


@pytest.fixture
def slack(engine, database_url):
    with fake_slack() as (url, workspace):
        settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                            slack_signing_secret=SECRET)  # fmt: skip
        clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        app = create_app(settings, engine=engine, clock=clock, run_worker=False)
        worker = build_worker(engine, settings=settings, clock=clock)
        with TestClient(app) as client:
            yield SlackClient(client), workspace, worker, clock


def text_of(response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["text"])


def incident(engine, incident_id: int = 1) -> Incident:
    with Session(engine) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found


def test_declare_run_and_resolve_an_incident_from_slack(slack, engine):
    client, workspace, worker, clock = slack
    assert "Declared INC-1 (SEV2)" in text_of(client.command("declare sev2 Search is down"))
    while worker.run_once():
        pass
    channel = incident(engine).slack_channel
    assert channel is not None and workspace.channels[channel] == "inc-1-search-is-down"
    workspace.timezones["U0ALICE"] = "Europe/Berlin"
    local = (clock.now() - timedelta(minutes=30)).astimezone(ZoneInfo("Europe/Berlin"))
    started = text_of(client.command(f"started {local:%H:%M}", channel=channel))
    assert "impact_started_at" in started
    assert incident(engine).impact_started_source == "human"
    assert "is now acknowledged" in text_of(client.command("ack", channel=channel))
    assert "updated: severity" in text_of(client.command("sev 1", channel=channel))
    assert "updated: commander" in text_of(client.command("lead <@U0BOB|bob>", channel=channel))
    assert "Noted" in text_of(client.command("note rolled back 4.2.1", channel=channel))
    assert "is now mitigated" in text_of(client.command("mitigate fallback on", channel=channel))
    status = text_of(client.command("status", channel=channel))
    assert "*INC-1* SEV1 · mitigated" in status and "<!date^" in status
    assert "is now resolved" in text_of(client.command("resolve #1 fixed"))
    done = incident(engine)
    assert (done.status, done.severity, done.commander) == ("resolved", "SEV1", "U0BOB")
    assert done.acknowledged_by == "U0ALICE"
    with Session(engine) as session:
        actors = {e.actor for e in session.exec(select(TimelineEntry)).all()}
    assert "U0ALICE" in actors


def test_card_buttons_are_the_same_as_the_commands(slack, engine):
    client, _, _, _ = slack
    client.command("declare Payment latency")
    assert client.button("incident-acknowledge", "INC-1").status_code == 200
    assert incident(engine).status == "acknowledged"
    assert incident(engine).acknowledged_by == "U0BOB"
    client.button("incident-mitigate", "INC-1")
    assert incident(engine).status == "mitigated"
    client.button("incident-resolve", "INC-1")
    assert incident(engine).status == "resolved"
    client.button("incident-acknowledge", "INC-1")  # illegal now: answered, nothing changes
    assert incident(engine).status == "resolved"


def submit_form(client: SlackClient, values: dict[str, dict[str, object]]):
    view = {"id": "V1", "type": "modal", "callback_id": "incident-declare",
            "state": {"values": values}}  # fmt: skip
    payload = {"type": "view_submission", "user": {"id": "U0CAROL"}, "team": {"id": "T1"},
               "view": view}  # fmt: skip
    return client.post("payload=" + quote(json.dumps(payload)),
                       content_type="application/x-www-form-urlencoded")  # fmt: skip


def test_declare_without_a_title_opens_a_form_that_validates(slack, engine):
    client, workspace, _, _ = slack
    assert client.command("declare").status_code == 200
    (view,) = workspace.views
    assert view["callback_id"] == "incident-declare"
    assert [b["block_id"] for b in view["blocks"]] == [
        "declare-title", "declare-severity", "declare-service"]  # fmt: skip
    empty = submit_form(client, {"declare-title": {"value": {"value": " "}}})
    assert empty.json() == {"response_action": "errors",
                            "errors": {"declare-title": "Say what is wrong."}}  # fmt: skip
    filled = submit_form(client, {
        "declare-title": {"value": {"value": "Chatbot answers in English"}},
        "declare-severity": {"value": {"selected_option": {"value": "SEV2"}}},
        "declare-service": {"value": {"value": "support-chat"}},
    })  # fmt: skip
    assert filled.status_code == 200
    declared = incident(engine)
    assert (declared.title, declared.severity, declared.service, declared.commander) == (
        "Chatbot answers in English", "SEV2", "support-chat", "U0CAROL")  # fmt: skip


def test_list_metrics_help_oncall_and_usage_lines(slack):
    client, _, _, clock = slack
    assert "No open incidents" in text_of(client.command("list"))
    client.command("declare sev1 A")
    client.command("declare B")
    listed = text_of(client.command("list"))
    assert "*INC-2* SEV3" in listed and "*INC-1* SEV1" in listed
    clock.advance(minutes=1)
    assert "MTTx medians" in text_of(client.command("metrics 30d"))
    assert "`declare [sev1-4] <title>`" in text_of(client.command("help"))
    assert "`declare [sev1-4] <title>`" in text_of(client.command(""))
    assert "usage: `/incident oncall <service>`" in text_of(client.command("oncall"))
    assert "PagerDuty is not configured" in text_of(client.command("oncall checkout"))
    usage = [
        ("dance", "unknown command"),
        ("sev 9 #1", "usage"),
        ("ack", "name the incident"),
        ("lead bob #1", "mention"),
        ("note", "usage"),
        ("started whenever #1", "cannot read"),
        ("ack #99", "no incident"),
    ]
    for text, says in usage:
        assert says in text_of(client.command(text)), text


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [({"signed": False}, 401), ({"age": 301}, 401), ({"secret": "wrong-secret-value"}, 401)],
)
def test_unsigned_stale_or_badly_signed_requests_change_nothing(slack, engine, kwargs, status):
    client, _, _, _ = slack
    assert client.command("declare sev1 Forged", **kwargs).status_code == status
    with Session(engine) as session:
        assert session.exec(select(Incident)).all() == []


def test_an_events_api_retry_is_acknowledged_without_redoing_work(slack, engine):
    client, _, _, _ = slack
    body = json.dumps({"type": "event_callback", "event": {"type": "app_mention", "text": "hi"}})
    retried = client.post(body, content_type="application/json", headers={"x-slack-retry-num": "1"})
    assert retried.status_code == 200 and retried.headers["x-slack-no-retry"] == "1"
    challenge = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    assert client.post(challenge, content_type="application/json").json() == {"challenge": "abc123"}


def test_without_a_signing_secret_slack_is_not_configured(client):
    assert client.post("/slack/events", content=b"x").status_code == 404
