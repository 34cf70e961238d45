"""Paging decisions and two-way sync through the API, with the outbox inspected directly:
what is paged, what is acknowledged and resolved, what is never echoed back."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.outbox.worker import Worker
from incidents.paging.delivery import pagerduty_handlers
from incidents.store.models import Incident, OutboxMessage, TimelineEntry
from tests.payloads import load

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, like PagerDuty's
SECRET = "pd-webhook-secret-for-tests"


@pytest.fixture
def api(database_url, engine, clock):
    settings = Settings(database_url=database_url, pagerduty_routing_key=ROUTING_KEY,
                        pagerduty_webhook_secret=SECRET)  # fmt: skip
    with TestClient(create_app(settings, engine=engine, clock=clock, run_worker=False)) as client:
        yield client


def pages(engine) -> list[tuple[int | None, str]]:
    """Return (incident id, action) of every queued PagerDuty event, in order."""
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.topic == "pagerduty.event")
                            .order_by(col(OutboxMessage.id))).all()  # fmt: skip
        return [(row.incident_id, str(row.payload["action"])) for row in rows]


def incident(engine, incident_id: int = 1) -> Incident:
    with Session(engine) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found


def pd_event(kind: str, *, occurred_at: str, incident_key: str | None = "INC-1",
             event_id: str = "01EVENT") -> dict[str, Any]:  # fmt: skip
    """Return a recorded PagerDuty V3 event, pointed at our page."""
    name = "acknowledged" if kind == "reassigned" else kind
    body: dict[str, Any] = copy.deepcopy(load(f"pagerduty/webhook_v3_incident_{name}_zulip.json"))
    body["event"]["event_type"] = f"incident.{kind}"
    body["event"]["occurred_at"] = occurred_at
    body["event"]["id"] = event_id
    body["event"]["data"]["id"] = "PQ1K5C8"  # one PagerDuty incident across the recordings
    if incident_key is None:
        body["event"]["data"].pop("incident_key", None)
    else:
        body["event"]["data"]["incident_key"] = incident_key
    return body


def send(client: TestClient, body: dict[str, Any], *, secret: str = SECRET, webhook_id: str = "W1"):
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-pagerduty-signature": f"v1={signature}",
               "x-webhook-id": webhook_id}  # fmt: skip
    return client.post("/webhooks/pagerduty", content=raw, headers=headers)


def test_pages_follow_the_lifecycle_at_or_above_the_threshold(api, engine, clock):
    api.post("/api/incidents", json={"title": "minor", "severity": "SEV3"})
    assert pages(engine) == [], "SEV3 is below the default SEV2 threshold"
    api.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV2"})
    clock.advance(minutes=1)
    api.post("/api/incidents/2/acknowledge")
    api.post("/api/incidents/2/mitigate")  # PagerDuty has no "mitigated": nothing to send
    api.post("/api/incidents/2/resolve")
    api.post("/api/incidents/2/reopen")
    assert pages(engine) == [(2, "trigger"), (2, "acknowledge"), (2, "resolve"), (2, "trigger")]
    api.patch("/api/incidents/1", json={"severity": "SEV1"})
    assert pages(engine)[-1] == (1, "trigger"), "raising the severity pages"


def test_incidents_pagerduty_opened_are_not_paged_back(api, engine, clock):
    clock.advance(hours=2)
    body = load("pagerduty/webhook_v3_incident_triggered_zulip.json")
    assert send(api, body).status_code == 202
    assert incident(engine).source == "pagerduty"
    assert pages(engine) == []


def test_acknowledge_and_resolve_in_pagerduty_update_ours_without_an_echo(api, engine, clock):
    api.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV1"})
    clock.advance(minutes=5)
    triggered = pd_event("triggered", occurred_at="2026-11-25T09:00:02Z", event_id="E0")
    assert send(api, triggered, webhook_id="W0").json()["incidents"] == [1]
    assert incident(engine).pagerduty_incident_id == "PQ1K5C8"
    assert [i.id for i in _all(engine)] == [1], "our own page coming back opens nothing"

    ack = pd_event("acknowledged", occurred_at="2026-11-25T09:03:00.394Z", event_id="E1")
    assert send(api, ack, webhook_id="W1").status_code == 202
    acked = incident(engine)
    assert acked.status == "acknowledged" and acked.acknowledged_by == "PIG 208"
    assert acked.acknowledged_at is not None and acked.acknowledged_at.isoformat() == (
        "2026-11-25T09:03:00.394000+00:00"
    )
    assert send(api, ack, webhook_id="W1").json()["duplicate"] is True

    resolved = pd_event("resolved", occurred_at="2026-11-25T09:04:00Z", incident_key=None,
                        event_id="E2")  # linked by the PagerDuty id stored before  # fmt: skip
    assert send(api, resolved, webhook_id="W2").status_code == 202
    assert incident(engine).status == "resolved"
    assert pages(engine) == [(1, "trigger")], "nothing was echoed back to PagerDuty"


def test_resolving_here_after_pagerduty_acknowledged_sends_only_the_resolve(api, engine, clock):
    api.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV1"})
    clock.advance(minutes=5)
    send(api, pd_event("acknowledged", occurred_at="2026-11-25T09:01:00Z"))
    api.post("/api/incidents/1/resolve")
    assert pages(engine) == [(1, "trigger"), (1, "resolve")]


def test_reassignment_goes_on_the_timeline(api, engine, clock):
    api.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV1"})
    clock.advance(minutes=5)
    send(api, pd_event("reassigned", occurred_at="2026-11-25T09:02:00Z"))
    with Session(engine) as session:
        texts = [e.text for e in session.exec(select(TimelineEntry)).all()]
    assert "PagerDuty reassigned it to PIG 208" in texts


def test_events_for_incidents_we_do_not_know_are_ignored(api, engine, clock):
    clock.advance(hours=1)
    ack = pd_event("acknowledged", occurred_at="2026-11-25T09:03:00Z", incident_key="INC-77")
    answer = send(api, ack)
    assert answer.status_code == 202 and answer.json()["incidents"] == []
    assert _all(engine) == []


def test_a_bad_signature_is_refused_and_changes_nothing(api, engine, clock):
    api.post("/api/incidents", json={"title": "Checkout down", "severity": "SEV1"})
    clock.advance(minutes=5)
    ack = pd_event("acknowledged", occurred_at="2026-11-25T09:03:00Z")
    assert send(api, ack, secret="not-the-secret").status_code == 401
    assert incident(engine).status == "triggered"


def _all(engine) -> list[Incident]:
    with Session(engine) as session:
        return list(session.exec(select(Incident)).all())


def test_on_call_without_an_api_token_is_503_naming_the_setting(api):
    answer = api.get("/api/oncall", params={"service": "checkout"})
    assert answer.status_code == 503
    assert "INCIDENTS_PAGERDUTY_API_TOKEN" in answer.json()["detail"]


def test_a_catalog_routing_key_pages_its_service_through_that_key(
    database_url, engine, clock, tmp_path
):
    catalog_key = "C4TAL0GKEY0123456789abcdefABCDEF"
    (tmp_path / "catalog.yaml").write_text(
        f"services:\n  checkout:\n    pagerduty_routing_key: {catalog_key}\n", encoding="utf-8"
    )
    settings = Settings(database_url=database_url, runbooks_dir=tmp_path)
    sent: list[dict[str, Any]] = []

    def pagerduty(request: httpx2.Request) -> httpx2.Response:
        sent.append(json.loads(request.content))
        return httpx2.Response(202, json={"status": "success", "dedup_key": "INC-1"})

    app = create_app(settings, engine=engine, clock=clock, run_worker=False)
    with TestClient(app) as client:
        client.post(
            "/api/incidents", json={"title": "a", "severity": "SEV1", "service": "checkout"}
        )
        client.post("/api/incidents", json={"title": "b", "severity": "SEV1", "service": "search"})
    assert pages(engine) == [(1, "trigger")], "no key for search: not paged"
    assert incident(engine).pagerduty_routing == "checkout"
    handler = pagerduty_handlers(engine, settings, transport=httpx2.MockTransport(pagerduty))
    worker = Worker(engine, handlers=handler, settings=settings, clock=clock)
    while worker.run_once():
        pass
    assert [(body["routing_key"], body["event_action"]) for body in sent] == [
        (catalog_key, "trigger")
    ]
