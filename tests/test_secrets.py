"""Secrets never leak: with every secret configured, a sweep of requests — right and wrong
credentials, bad signatures, Slack commands, documents, /metrics, the OpenAPI, a PagerDuty
rejection that echoes its routing key — and every log line they produce are searched for
each secret's value."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from incidents.api.app import create_app
from incidents.config import load_settings
from incidents.outbox.worker import Worker
from incidents.paging.delivery import pagerduty_handlers
from tests.fake_slack import TOKEN as SLACK_TOKEN
from tests.fake_slack import fake_slack
from tests.slack.test_commands import SlackClient

SECRETS = {
    "api_token": "api-S3CRET-7f1c2a",
    "webhook_token": "hook-S3CRET-91bd0e",
    "grafana_secret": "grafana-S3CRET-55aa10",
    "pagerduty_webhook_secret": "pd-S3CRET-hmac-c0ffee",
    "pagerduty_routing_key": "R0UT1NGS3CRET0123456789abcdefABC",
    "pagerduty_api_token": "pdapi-S3CRET-8e8e8e",
    "slack_signing_secret": "slack-S3CRET-signing-4242",
}


def sweep(client: TestClient) -> list[str]:
    """Send what users, senders and attackers send; return every response text."""
    api = {"Authorization": f"Bearer {SECRETS['api_token']}"}
    texts: list[str] = []

    def keep(response: Any) -> None:
        texts.append(f"{response.status_code} {dict(response.headers)} {response.text}")

    keep(client.get("/openapi.json"))
    keep(client.get("/metrics"))
    keep(client.get("/api/incidents", headers={"Authorization": "Bearer nope"}))
    keep(client.post("/api/incidents", headers=api, json={"title": "Checkout down",
                                                          "severity": "SEV1"}))  # fmt: skip
    paths = ("/api/incidents/1", "/api/incidents/1/postmortem.md",
             "/api/incidents/1/summary.html", "/api/outbox?state=dead", "/api/slos")  # fmt: skip
    for path in paths:
        keep(client.get(path, headers=api))
    keep(client.post("/webhooks/grafana", content=b"{}", headers={
        "X-Grafana-Alerting-Signature": "sha256=00"}))  # fmt: skip
    keep(client.post("/webhooks/pagerduty", content=b'{"event": {}}', headers={
        "X-PagerDuty-Signature": "v1=00"}))  # fmt: skip
    keep(client.post("/webhooks/alertmanager", content=b"not json",
                     headers={"Authorization": f"Bearer {SECRETS['webhook_token']}"}))  # fmt: skip
    keep(client.post("/v2/enqueue", json={"routing_key": "wrong", "event_action": "trigger"}))
    keep(client.post("/slack/events", content=b"command=/incident&text=list"))
    slack = SlackClient(client)
    keep(slack.post("command=/incident&text=list", content_type="application/x-www-form-urlencoded",
                    secret=SECRETS["slack_signing_secret"]))  # fmt: skip
    return texts


def test_no_secret_in_any_response_or_log_line(database_url, engine, clock, caplog):
    caplog.set_level(logging.DEBUG)
    with fake_slack() as (url, _workspace):
        settings = load_settings(database_url=database_url, slack_api_url=url,
                            slack_bot_token=SLACK_TOKEN, **SECRETS)  # fmt: skip
        app = create_app(settings, engine=engine, clock=clock, run_worker=False)
        with TestClient(app) as client:
            texts = sweep(client)

            def rejecting(request: httpx2.Request) -> httpx2.Response:
                sent = json.loads(request.content)  # PagerDuty quoting the key back at us
                body = {"status": "invalid event", "message": "Event object is invalid",
                        "errors": [f"routing_key {sent['routing_key']} is not active"]}  # fmt: skip
                return httpx2.Response(400, json=body)

            handlers = pagerduty_handlers(engine, settings,
                                          transport=httpx2.MockTransport(rejecting))  # fmt: skip
            Worker(engine, handlers=handlers, settings=settings, clock=clock).run_once()
            api = {"Authorization": f"Bearer {SECRETS['api_token']}"}
            dead = client.get("/api/outbox?state=dead", headers=api)
            texts.append(dead.text)
            texts.append(client.get("/api/incidents/1/timeline", headers=api).text)
    assert '"pagerduty.event"' in dead.text, "the page was rejected and dead-lettered"
    assert "routing_key [redacted] is not active" in dead.text, "PagerDuty's echo was redacted"
    logs = [record.getMessage() for record in caplog.records]
    logs += [record.exc_text or "" for record in caplog.records]
    leaks = [(name, where[:200]) for name, secret in SECRETS.items()
             for where in texts + logs if secret in where]  # fmt: skip
    assert leaks == []


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_settings_never_print_a_secret(name):
    settings = load_settings(database_url="sqlite://", **{name: SECRETS[name]})
    assert SECRETS[name] not in repr(settings) and SECRETS[name] not in str(settings)
