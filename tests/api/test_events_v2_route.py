"""Events API v2 compatible endpoints answer exactly like PagerDuty does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from incidents.api.app import create_app
from incidents.config import Settings
from tests.fakes import FrozenClock
from tests.payloads import load, raw

TOKEN = "events-v2-token-for-tests"
TRIGGER = "pagerduty/events_v2_trigger_request_python_pagerduty_7.2.0.json"
ACK = "pagerduty/events_v2_acknowledge_request_python_pagerduty_7.2.0.json"
RESOLVE = "pagerduty/events_v2_resolve_request_python_pagerduty_7.2.0.json"


@pytest.fixture
def api(database_url, engine):
    settings = Settings(database_url=database_url, webhook_token=TOKEN)
    clock = FrozenClock(datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        yield client, clock


@pytest.mark.parametrize("path", ["/webhooks/events-v2", "/v2/enqueue"])
def test_trigger_ack_resolve_lifecycle(api, path):
    client, clock = api
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.post(path, content=raw(TRIGGER), headers=auth)
    assert response.status_code == 202
    expected = {"status": "success", "message": "Event processed",
                "dedup_key": load(TRIGGER)["dedup_key"]}  # fmt: skip
    assert response.json() == expected
    assert response.json() == {**load("pagerduty/events_v2_response_202_openapi_example.json"),
                               "dedup_key": expected["dedup_key"]}  # fmt: skip
    clock.advance(minutes=2)
    assert client.post(path, content=raw(ACK), headers=auth).status_code == 202
    clock.advance(minutes=5)
    assert client.post(path, content=raw(RESOLVE), headers=auth).status_code == 202
    incident = client.get("/api/incidents/1").json()
    assert incident["source"] == "events_v2"
    assert incident["status"] == "resolved"
    assert incident["acknowledged_at"] == "2026-11-25T16:02:00Z"
    assert incident["resolved_at"] == "2026-11-25T16:07:00Z"


def test_the_routing_key_may_carry_the_token(api):
    client, _ = api
    event = {**load(TRIGGER), "routing_key": TOKEN}
    assert client.post("/v2/enqueue", json=event).status_code == 202
    assert client.post("/v2/enqueue", json=load(TRIGGER)).status_code == 401


def test_invalid_event_lists_every_problem_like_pagerduty(api):
    client, _ = api
    event = {"routing_key": TOKEN, "event_action": "trigger", "payload": {"severity": "loud"}}
    response = client.post("/v2/enqueue", json=event)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert len(body["errors"]) >= 3
    assert client.get("/api/incidents").json()["items"] == []


def test_unreadable_json_is_pagerduty_shaped(api):
    client, _ = api
    response = client.post(
        "/v2/enqueue", content=b"{nope", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 400
    assert response.json() == load("pagerduty/events_v2_response_error_openapi_example.json")


def test_a_retried_trigger_is_a_duplicate_with_the_same_dedup_key(api):
    client, _ = api
    event = {k: v for k, v in load(TRIGGER).items() if k != "dedup_key"}
    event["routing_key"] = TOKEN
    first = client.post("/v2/enqueue", json=event).json()
    second = client.post("/v2/enqueue", json=event).json()
    assert first["dedup_key"] == second["dedup_key"] and len(first["dedup_key"]) == 32
    assert len(client.get("/api/incidents").json()["items"]) == 1


def test_the_generic_webhook_operation_does_not_document_the_sources_routed_elsewhere(api):
    """``/webhooks/events-v2`` is its own operation and answers in PagerDuty's shapes: the
    generic ``/webhooks/{source}`` must not document it among its sources (the schema fuzz
    once sent ``events-v2`` there and found PagerDuty's 400 instead of the documented one)."""
    client, _ = api
    document = client.get("/openapi.json").json()
    literal = {path.removeprefix("/webhooks/") for path in document["paths"]
               if path.startswith("/webhooks/") and "{" not in path}  # fmt: skip
    assert literal == {"events-v2"}
    (source,) = document["paths"]["/webhooks/{source}"]["post"]["parameters"]
    assert set(source["schema"]["not"]["enum"]) == literal
    refused = client.post(
        "/webhooks/events-v2", json={}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert refused.status_code == 400 and refused.json()["status"] == "invalid event"
