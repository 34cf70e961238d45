"""The webhook endpoint as senders see it: 202 answers, duplicates, and bad input that is
refused with a clear error and writes nothing (DESIGN §5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from incidents.api.app import create_app
from incidents.config import Settings
from tests.fakes import FrozenClock
from tests.payloads import raw

TOKEN = "webhook-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
TWO_ALERTS = raw("alertmanager/webhook_v4_firing_two_alerts.json")


@pytest.fixture
def hooks(database_url, engine):
    settings = Settings(database_url=database_url, webhook_token=TOKEN, max_body_bytes=64 * 1024)
    clock = FrozenClock(datetime(2026, 11, 25, 15, 42, tzinfo=UTC))
    with TestClient(create_app(settings, engine=engine, clock=clock)) as client:
        yield client


def counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("incidents", "alerts", "timeline", "deliveries")
        }


EMPTY = {"incidents": 0, "alerts": 0, "timeline": 0, "deliveries": 0}


def test_a_delivery_is_answered_202_after_commit(hooks, engine):
    response = hooks.post("/webhooks/alertmanager", content=TWO_ALERTS, headers=AUTH)
    assert response.status_code == 202
    assert response.json() == {"alerts": 2, "incidents": [1], "duplicate": False}
    assert counts(engine) == {"incidents": 1, "alerts": 2, "timeline": 3, "deliveries": 1}


def test_a_redelivery_is_202_duplicate_and_writes_nothing(hooks, engine):
    hooks.post("/webhooks/alertmanager", content=TWO_ALERTS, headers=AUTH)
    before = counts(engine)
    again = hooks.post("/webhooks/alertmanager", content=TWO_ALERTS, headers=AUTH)
    assert again.status_code == 202
    assert again.json() == {"alerts": 2, "incidents": [1], "duplicate": True}
    assert counts(engine) == before


BIG = b'{"groupKey": "g", "alerts": [], "pad": "' + b"x" * (70 * 1024) + b'"}'


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "says"),
    [
        ("/webhooks/nagios", TWO_ALERTS, AUTH, 404, "unknown source"),
        ("/webhooks/alertmanager", TWO_ALERTS, {}, 401, "webhook token"),
        ("/webhooks/alertmanager", TWO_ALERTS, {"Authorization": "Bearer nope"}, 401, "token"),
        ("/webhooks/alertmanager", b'{"alerts": [', AUTH, 400, "not valid JSON"),
        ("/webhooks/alertmanager", b"\xff\xfe\x00", AUTH, 400, "UTF-8"),
        ("/webhooks/alertmanager", b"[" * 100_000 + b"]" * 100_000, AUTH, 413, "limit"),
        ("/webhooks/alertmanager", b"[" * 20_000 + b"]" * 20_000, AUTH, 400, "nested"),
        ("/webhooks/alertmanager", b'{"alerts": []}', AUTH, 422, "groupKey"),
        ("/webhooks/alertmanager", b'"just a string"', AUTH, 422, "expected a JSON object"),
        ("/webhooks/alertmanager", BIG, AUTH, 413, "exceeds the limit"),
        ("/webhooks/alertmanager",
         b'{"groupKey":"g","alerts":[{"status":"firing","startsAt":"2026-11-25T10:00:00Z"},'
         b'{"status":"firing"}]}', AUTH, 422, "alerts[1].startsAt"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_clearly_and_writes_nothing(
    hooks, engine, path, body, headers, status, says
):
    response = hooks.post(path, content=body, headers=headers)
    assert response.status_code == status
    assert says in response.json()["detail"]
    assert TOKEN not in response.text
    assert counts(engine) == EMPTY


def test_a_chunked_body_over_the_limit_is_413(hooks, engine):
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = hooks.post("/webhooks/alertmanager", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert counts(engine) == EMPTY


def test_a_failing_group_rolls_back_the_whole_delivery(hooks, engine):
    body = (
        b'{"groupKey":"g","alerts":[{"status":"firing","startsAt":"2026-11-25T10:00:00Z"},'
        b'{"status":"firing","startsAt":"2026-11-25T10:00:00Z","labels":{"a":"b"}},'
        b'{"status":"maybe","startsAt":"2026-11-25T10:00:00Z"}]}'
    )
    assert hooks.post("/webhooks/alertmanager", content=body, headers=AUTH).status_code == 422
    assert counts(engine) == EMPTY


def test_webhooks_are_in_the_openapi_document(hooks):
    paths = hooks.get("/openapi.json").json()["paths"]
    assert "/webhooks/{source}" in paths


def test_nul_characters_from_a_sender_are_stored_replaced(hooks, engine):
    body = (
        b'{"groupKey":"g\\u0000","alerts":[{"status":"firing","startsAt":"2026-11-25T10:00:00Z",'
        b'"labels":{"alertname":"x\\u0000"},"annotations":{"summary":"y\\u0000"}}]}'
    )
    response = hooks.post("/webhooks/alertmanager", content=body, headers=AUTH)
    assert response.status_code == 202
    again = hooks.post(
        "/webhooks/alertmanager", content=body.replace(b"10:00", b"10:01"), headers=AUTH
    )
    assert again.json()["incidents"] == response.json()["incidents"], "the group still matches"
    with engine.connect() as connection:
        title = connection.execute(text("SELECT title FROM incidents")).scalar_one()
    assert title == "y\ufffd"
