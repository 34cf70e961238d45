"""Every recorded payload goes in through its real endpoint; sending them all again leaves
the database exactly as it was after the first time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from incidents.api.app import create_app
from incidents.config import Settings
from tests.fakes import FrozenClock
from tests.payloads import PAYLOADS

TOKEN = "replay-fixtures-token"
TABLES = ("incidents", "alerts", "timeline", "deliveries")

# (path, query) per payload folder and file pattern.
DELIVERIES: list[tuple[str, str, str]] = [
    ("alertmanager", "webhook_v4_*.json", "/webhooks/alertmanager"),
    ("grafana", "webhook_*.json", "/webhooks/grafana"),
    ("pagerduty", "webhook_v3_*.json", "/webhooks/pagerduty"),
    ("pagerduty", "events_v2_*_request_*.json", "/webhooks/events-v2"),
    ("ml", "*.json", "/webhooks/ml"),
    ("evidently", "*.json", "/webhooks/evidently?model=loan-default&version=7"),
]
NOT_DELIVERIES = {"webhook_v3_event_data_types_docs.json"}  # a catalogue, not one event


def payload_files() -> list[tuple[str, bytes]]:
    files = []
    for folder, pattern, path in DELIVERIES:
        for file in sorted((PAYLOADS / folder).glob(pattern)):
            if file.name not in NOT_DELIVERIES:
                files.append((path, file.read_bytes()))
    return files


def snapshot(engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            table: [
                tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))
            ]
            for table in TABLES
        }


@pytest.fixture
def client(database_url, engine):
    settings = Settings(database_url=database_url, webhook_token=TOKEN)
    clock = FrozenClock(datetime(2026, 11, 25, 16, 0, tzinfo=UTC))
    with TestClient(create_app(settings, engine=engine, clock=clock)) as test_client:
        yield test_client


def test_every_payload_is_accepted_and_a_second_replay_changes_nothing(client, engine):
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    files = payload_files()
    assert len(files) >= 20
    for path, body in files:
        response = client.post(path, content=body, headers=auth)
        assert response.status_code == 202, (path, response.text)
    once = snapshot(engine)
    assert len(once["incidents"]) >= 8
    for path, body in files:
        response = client.post(path, content=body, headers=auth)
        assert response.status_code == 202, (path, response.text)
        if path.startswith("/webhooks/") and "events-v2" not in path:
            assert response.json()["duplicate"] is True, path
    assert snapshot(engine) == once
