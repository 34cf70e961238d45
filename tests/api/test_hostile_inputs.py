"""Inputs a sender or client can send that once produced 500s or wrong state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from incidents.api.app import create_app
from incidents.config import Settings
from tests.fakes import FrozenClock
from tests.payloads import load

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def api(database_url, engine):
    settings = Settings(database_url=database_url, pagerduty_webhook_secret="pd-secret-value-1",
                        grafana_secret="grafana-secret-1")  # fmt: skip
    clock = FrozenClock(T0)
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        yield client, clock


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/webhooks/pagerduty", {"X-PagerDuty-Signature": "v1=é".encode()}),
        ("/webhooks/grafana", {"X-Grafana-Alerting-Signature": "é".encode()}),
    ],
)
def test_non_ascii_signatures_are_401(api, path, headers):
    client, _ = api
    assert client.post(path, content=b"{}", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b'{"groupKey": "g", "alerts": [], "n": ' + b"9" * 5000 + b"}",
        b'{"groupKey": "\\ud800", "alerts": []}',
    ],
)
def test_bodies_python_cannot_store_are_400(api, body):
    client, _ = api
    response = client.post("/v2/enqueue", content=body)
    assert response.status_code == 400


def test_times_out_of_range_are_422(api):
    client, _ = api
    early = client.post(
        "/api/incidents", json={"title": "x", "impact_started_at": "0001-01-01T00:00:00+01:00"}
    )
    assert early.status_code == 422
    assert client.get("/api/incidents", params={"since": "99999999d"}).status_code == 422
    assert client.get("/api/metrics", params={"since": "99999999d"}).status_code == 422
    cursor = "aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"  # id:99999999999999999999999999
    assert client.get("/api/incidents", params={"cursor": cursor}).status_code == 422


def test_nan_impact_inputs_are_422(api):
    client, _ = api
    client.post("/api/incidents", json={"title": "x"})
    body = (
        '{"model": "generic", "inputs": '
        '{"affected_share": NaN, "volume_per_hour": 1, "value_per_unit": 1}}'
    )
    response = client.put("/api/incidents/1/impact", content=body,
                          headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 422


def test_correcting_detection_moves_a_defaulted_impact_start(api):
    client, clock = api
    client.post("/api/incidents", json={"title": "x"})
    clock.advance(minutes=10)
    fixed = client.patch("/api/incidents/1", json={"detected_at": "2026-11-25T08:40:00Z"})
    assert fixed.status_code == 200
    assert fixed.json()["impact_started_at"] == "2026-11-25T08:40:00Z"
    assert fixed.json()["impact_started_source"] == "defaulted"


def test_a_failed_finish_writes_nothing(api):
    client, _ = api
    client.post("/api/incidents", json={"title": "x"})
    client.put("/api/incidents/1/postmortem", json={"problem_statement": "p"})
    change = {"problem_statement": "changed", "went_well": ["a"], "status": "done"}
    refused = client.put("/api/incidents/1/postmortem", json=change)  # fmt: skip
    assert refused.status_code == 409
    after = client.get("/api/incidents/1/postmortem").json()
    assert after["problem_statement"] == "p" and after["went_well"] == []


def test_the_same_alert_firing_again_belongs_to_the_new_incident(database_url, engine):
    clock = FrozenClock(T0)
    settings = Settings(database_url=database_url)
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        trigger = load("pagerduty/webhook_v3_incident_triggered_zulip.json")

        def variant(event_type: str, event_id: str) -> dict[str, Any]:
            body: dict[str, Any] = json.loads(json.dumps(trigger))
            body["event"]["event_type"], body["event"]["id"] = event_type, event_id
            return body

        resolve = variant("incident.resolved", "resolve-1")
        reopened = variant("incident.reopened", "reopen-1")
        again = variant("incident.resolved", "resolve-2")
        for body in (trigger, resolve):
            client.post("/webhooks/pagerduty", json=body)
        clock.advance(minutes=30)
        client.post("/webhooks/pagerduty", json=reopened)
        client.post("/webhooks/pagerduty", json=again)
        statuses = [i["status"] for i in client.get("/api/incidents").json()["items"]]
    assert statuses and set(statuses) == {"resolved"}


def test_a_repeated_events_v2_trigger_after_resolution_is_a_new_outage(api):
    client, clock = api
    payload = {"summary": "Disk full", "source": "db1", "severity": "critical"}
    trigger = {"routing_key": "k", "event_action": "trigger", "dedup_key": "disk-full",
               "payload": payload}  # fmt: skip
    resolve = {"routing_key": "k", "event_action": "resolve", "dedup_key": "disk-full"}
    client.post("/v2/enqueue", json=trigger)
    client.post("/v2/enqueue", json=resolve)
    clock.advance(hours=2)
    client.post("/v2/enqueue", json=trigger)
    items = client.get("/api/incidents").json()["items"]
    assert [i["status"] for i in items] == ["triggered", "resolved"]


def test_webhook_limits_refuse_with_a_clear_error_and_write_nothing(database_url, engine, clock):
    settings = Settings(database_url=database_url, max_json_depth=8, max_alerts_per_delivery=2,
                        max_labels_per_alert=6)  # fmt: skip
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(10):
        deep = {"nested": deep}
    alert = load("alertmanager/webhook_v4_firing_two_alerts.json")
    three = {**alert, "alerts": alert["alerts"] + alert["alerts"][:1]}
    labelled = {**alert, "alerts": [{**alert["alerts"][0],
                "labels": {f"l{i}": "v" for i in range(7)}}]}  # fmt: skip
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        cases = [({**alert, "extra": deep}, 413, "INCIDENTS_MAX_JSON_DEPTH"),
                 (three, 413, "3 alerts in one delivery"),
                 (labelled, 422, "alerts[0] has 7 labels")]  # fmt: skip
        for body, code, says in cases:
            answer = client.post("/webhooks/alertmanager", json=body)
            assert answer.status_code == code and says in answer.text, answer.text
        assert client.post("/webhooks/alertmanager", json=alert).status_code == 202
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM incidents")).scalar_one() == 1


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [("get", "/api/incidents/INC-99999999999", 404), ("get", "/api/incidents/2147483648", 404),
     ("delete", "/api/overrides/2147483648", 422),
     ("patch", "/api/incidents/1/postmortem/actions/2147483648", 422)],
)  # fmt: skip
def test_ids_beyond_the_database_integer_are_not_found_not_500(client, method, path, code):
    client.post("/api/incidents", json={"title": "x"})
    answer = client.request(method, path, json={"status": "done"})
    assert answer.status_code == code, answer.text
