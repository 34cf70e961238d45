"""The webhook hot path (api/fast_intake): it answers exactly as the FastAPI route would,
hands every unusual request to the full app with its body intact, and counts each request
once in the metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlmodel import SQLModel
from starlette.types import Receive, Scope, Send

from incidents.api.app import create_app
from incidents.config import Settings
from tests.fakes import FrozenClock
from tests.payloads import raw

TOKEN = "webhook-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
TWO_ALERTS = raw("alertmanager/webhook_v4_firing_two_alerts.json")
GRAFANA = raw("grafana/webhook_firing_docs_example.json")
NOW = datetime(2026, 11, 25, 15, 42, tzinfo=UTC)


class FullAppOnly:
    """The same app with the hot path skipped: every request goes through FastAPI."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(self.app, scope, receive, send)


def _app(database_url: str, engine: Engine) -> FastAPI:
    settings = Settings(database_url=database_url, webhook_token=TOKEN, max_body_bytes=64 * 1024)
    return create_app(settings, engine=engine, clock=FrozenClock(NOW))


def _reset(engine: Engine) -> None:
    """Empty every table and restart ids, so both apps see the same database."""
    tables = [table.name for table in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return
        for name in reversed(tables):
            connection.execute(text(f"DELETE FROM {name}"))


def _chunks() -> Iterator[bytes]:
    """A body sent without Content-Length (chunked transfer encoding)."""
    yield TWO_ALERTS[:100]
    yield TWO_ALERTS[100:]


REQUESTS: dict[str, list[dict[str, Any]]] = {
    "accepted": [{"content": TWO_ALERTS, "headers": AUTH}],
    "redelivered": [{"content": TWO_ALERTS, "headers": AUTH}] * 2,
    "grafana": [{"url": "/webhooks/grafana", "content": GRAFANA, "headers": AUTH}],
    "query parameters": [
        {
            "url": "/webhooks/alertmanager?service=checkout&severity=SEV2",
            "content": TWO_ALERTS,
            "headers": AUTH,
        }
    ],  # fmt: skip
    "wrong token": [{"content": TWO_ALERTS, "headers": {**AUTH, "Authorization": "Bearer x"}}],
    "no token": [{"content": TWO_ALERTS, "headers": {"Content-Type": "application/json"}}],
    "not JSON": [{"content": b"{not json", "headers": AUTH}],
    "wrong shape": [{"content": b"[1, 2]", "headers": AUTH}],
    "too large": [{"content": b'{"pad": "' + b"x" * (70 * 1024) + b'"}', "headers": AUTH}],
    "unknown source": [{"url": "/webhooks/nagios", "content": TWO_ALERTS, "headers": AUTH}],
    "chunked": [{"content": _chunks, "headers": AUTH}],
}


def _send(
    client: TestClient, requests: list[dict[str, Any]]
) -> list[tuple[int, dict[str, str], bytes]]:
    """Send the requests in order; return each answer without its Date header."""
    answers = []
    for request in requests:
        content = request["content"]
        response = client.post(request.get("url", "/webhooks/alertmanager"),
                               content=content() if callable(content) else content,
                               headers=request["headers"])  # fmt: skip
        headers = {k: v for k, v in response.headers.items() if k not in {"date", "server"}}
        answers.append((response.status_code, headers, response.content))
    return answers


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_the_hot_path_answers_byte_for_byte_as_the_route(database_url, engine, case):
    app = _app(database_url, engine)
    with TestClient(FullAppOnly(app)) as full:
        expected = _send(full, REQUESTS[case])
    _reset(engine)
    with TestClient(_app(database_url, engine)) as fast:
        answered = _send(fast, REQUESTS[case])
    assert answered == expected


def test_deliveries_take_the_hot_path_and_refusals_the_full_app(database_url, engine, monkeypatch):
    seen: list[str] = []
    original = FastAPI.__call__

    async def spy(self: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", spy)
    with TestClient(_app(database_url, engine)) as client:
        ok = client.post("/webhooks/alertmanager", content=TWO_ALERTS, headers=AUTH)
        refused = client.post("/webhooks/alertmanager", content=b"{", headers=AUTH)
    assert (ok.status_code, refused.status_code) == (202, 400)
    assert seen == ["/webhooks/alertmanager"], "only the refused delivery reached FastAPI"


def _requests_total(client: TestClient) -> dict[str, float]:
    """Return the webhook route's request counts by status."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if (sample.name == "incidents_http_requests_total"
                    and sample.labels["route"] == "/webhooks/{source}"):  # fmt: skip
                counts[sample.labels["status"]] = sample.value
    return counts


def test_every_webhook_request_is_counted_once_with_the_route_template(database_url, engine):
    with TestClient(_app(database_url, engine)) as client:
        for _ in range(3):
            client.post("/webhooks/alertmanager", content=TWO_ALERTS, headers=AUTH)
        client.post("/webhooks/grafana", content=b"{", headers=AUTH)
        assert _requests_total(client) == {"202": 3.0, "400": 1.0}
