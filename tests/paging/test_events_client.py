"""Events API v2 through the real ``pagerduty`` client over ``httpx2.MockTransport``: the bodies
equal the captured pagerduty 7.2.0 requests, every answer maps onto DeliveryFailed, the
routing key never shows, and each send is exactly one HTTP attempt with no sleeping."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from incidents.config import Settings
from incidents.errors import ConfigError, DeliveryFailed, InvalidInput
from incidents.paging.events import (
    SEVERITY_TO_PAGERDUTY,
    PageEvent,
    as_json,
    events_client,
    from_json,
    send_event,
)
from tests.payloads import load

ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # the key in the captured fixtures
DEDUP_KEY = "incident-toolkit/checkout/HighErrorRate"
ACCEPTED = {"status": "success", "message": "Event processed", "dedup_key": DEDUP_KEY}
FIXTURE_TRIGGER = PageEvent(  # the inputs the captured trigger was made with
    action="trigger",
    dedup_key=DEDUP_KEY,
    summary="Checkout 5xx ratio above 5%",
    source="checkout.prod",
    severity=SEVERITY_TO_PAGERDUTY["SEV1"],
    custom_details={
        "num_firing": 2,
        "runbook_url": "https://runbooks.example.internal/checkout/high-error-rate",
    },
    links=[{"href": "http://alertmanager.example.internal:9093", "text": "Alertmanager"}],
)
Respond = Callable[[httpx2.Request], httpx2.Response]


class Peer:
    """A scripted PagerDuty behind MockTransport that records every request it gets."""

    def __init__(self, respond: Respond | None = None) -> None:
        self.requests: list[httpx2.Request] = []
        self.respond = respond or (lambda _request: httpx2.Response(202, json=ACCEPTED))

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.respond(request)

    def bodies(self) -> list[object]:
        return [json.loads(request.content) for request in self.requests]


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    """Fail at once if the client ever tries to wait and retry on its own."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"the pagerduty client slept {seconds} s to retry by itself")

    monkeypatch.setattr(time, "sleep", refuse)


def send(event: PageEvent, peer: Peer, **settings: Any) -> dict[str, Any]:
    client = events_client(Settings(**settings), ROUTING_KEY, transport=httpx2.MockTransport(peer))
    return send_event(client, event)


def failed(event: PageEvent, peer: Peer) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        send(event, peer)
    assert ROUTING_KEY not in caught.value.message
    assert len(peer.requests) == 1, "the client retried by itself"
    return caught.value


def resolve() -> PageEvent:
    return PageEvent(action="resolve", dedup_key=DEDUP_KEY)


@pytest.mark.parametrize(
    ("event", "fixture"),
    [
        (FIXTURE_TRIGGER, "trigger"),
        (PageEvent(action="acknowledge", dedup_key=DEDUP_KEY), "acknowledge"),
        (PageEvent(action="resolve", dedup_key=DEDUP_KEY), "resolve"),
    ],
)
def test_bodies_equal_the_captured_client_requests(event, fixture):
    peer = Peer()
    result = send(event, peer)
    assert peer.bodies() == [
        load(f"pagerduty/events_v2_{fixture}_request_python_pagerduty_7.2.0.json")
    ]
    request = peer.requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://events.pagerduty.com/v2/enqueue")
    assert request.headers["content-type"] == "application/json"
    assert result == {"status": "success", "dedup_key": DEDUP_KEY}


def test_timestamp_goes_into_the_payload_and_the_base_url_is_the_setting():
    peer = Peer()
    event = PageEvent(action="trigger", dedup_key="INC-42", summary="s", source="api",
                      severity="warning", timestamp="2026-11-25T09:00:00+00:00")  # fmt: skip
    send(event, peer, pagerduty_events_url="https://events.eu.pagerduty.com")
    assert str(peer.requests[0].url) == "https://events.eu.pagerduty.com/v2/enqueue"
    body = peer.bodies()[0]
    assert isinstance(body, dict)
    assert body["payload"] == {"summary": "s", "source": "api", "severity": "warning",
                               "timestamp": "2026-11-25T09:00:00+00:00"}  # fmt: skip


def test_invalid_event_is_permanent_with_pagerduty_words_and_no_routing_key():
    peer = Peer(lambda _r: httpx2.Response(400, json=load(
        "pagerduty/events_v2_response_400_invalid_event.json")))  # fmt: skip
    failure = failed(FIXTURE_TRIGGER, peer)
    assert failure.permanent
    assert "Length of 'routing_key' is incorrect (should be 32 characters)" in failure.message
    assert "HTTP 400" in failure.message


def test_pagerduty_text_that_quotes_the_routing_key_is_redacted():
    body = {"status": "invalid event", "message": "Event object is invalid",
            "errors": [f"routing_key {ROUTING_KEY} is not a known integration"]}  # fmt: skip
    failure = failed(resolve(), Peer(lambda _r: httpx2.Response(400, json=body)))
    assert failure.permanent
    assert "routing_key [redacted] is not a known integration" in failure.message


@pytest.mark.parametrize("status", [403, 404, 413, 422])
def test_other_client_errors_are_permanent(status):
    failure = failed(resolve(), Peer(lambda _r: httpx2.Response(status, text="nope")))
    assert failure.permanent
    assert f"HTTP {status}" in failure.message


def test_rate_limit_is_retried_after_pagerdutys_retry_after():
    peer = Peer(lambda _r: httpx2.Response(429, headers={"Retry-After": "7"}, json={}))
    failure = failed(FIXTURE_TRIGGER, peer)
    assert (failure.permanent, failure.retry_after) == (False, 7.0)


def test_rate_limit_without_retry_after_waits_the_advised_30_seconds():
    failure = failed(FIXTURE_TRIGGER, Peer(lambda _r: httpx2.Response(429, json={})))
    assert (failure.permanent, failure.retry_after) == (False, 30.0)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_are_retryable_after_one_attempt(status, caplog):
    caplog.set_level(logging.DEBUG)
    peer = Peer(lambda _r: httpx2.Response(status, json={"message": "oops"}))
    failure = failed(FIXTURE_TRIGGER, peer)
    assert not failure.permanent
    assert failure.retry_after is None
    assert ROUTING_KEY not in caplog.text


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (httpx2.ConnectError, "unreachable"),
        (httpx2.RemoteProtocolError, "unreachable"),
        (httpx2.ReadTimeout, "no answer"),
        (httpx2.ConnectTimeout, "no answer"),
    ],
)
def test_network_failures_are_retryable_after_one_attempt(error, words):
    def broken(request: httpx2.Request) -> httpx2.Response:
        raise error("network trouble", request=request)

    failure = failed(FIXTURE_TRIGGER, Peer(broken))
    assert not failure.permanent
    assert words in failure.message


def test_an_accepted_answer_without_dedup_key_is_retried():
    failure = failed(resolve(), Peer(lambda _r: httpx2.Response(202, json={"status": "odd"})))
    assert not failure.permanent


def test_plain_http_events_url_is_a_config_error_naming_the_setting():
    settings = Settings(pagerduty_events_url="http://127.0.0.1:8080")
    with pytest.raises(ConfigError, match="INCIDENTS_PAGERDUTY_EVENTS_URL") as caught:
        events_client(settings, ROUTING_KEY)
    assert "https://" in caught.value.message


def test_unreadable_ca_bundle_is_a_config_error_naming_the_setting(tmp_path: Path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for bundle in (tmp_path / "missing.pem", not_pem):
        with pytest.raises(ConfigError, match="INCIDENTS_PAGERDUTY_CA_BUNDLE"):
            events_client(Settings(pagerduty_ca_bundle=bundle), ROUTING_KEY)


def test_summary_over_1024_characters_is_cut_with_an_ellipsis():
    peer = Peer()
    event = PageEvent(action="trigger", dedup_key="INC-1", summary="x" * 2000, source="api",
                      severity="info")  # fmt: skip
    send(event, peer)
    body = peer.bodies()[0]
    assert isinstance(body, dict)
    assert body["payload"]["summary"] == "x" * 1023 + "…"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"action": "snooze", "dedup_key": "INC-1"}, "action"),
        ({"action": "resolve", "dedup_key": ""}, "dedup_key"),
        ({"action": "resolve", "dedup_key": "k" * 256}, "dedup_key"),
        ({"action": "resolve", "dedup_key": "INC-1", "summary": "dropped"}, "summary"),
        ({"action": "trigger", "dedup_key": "INC-1", "summary": "s", "severity": "info"}, "source"),
        (
            {
                "action": "trigger",
                "dedup_key": "INC-1",
                "summary": "s",
                "source": "a",
                "severity": "SEV1",
            },
            "severity",
        ),  # fmt: skip
        (
            {
                "action": "trigger",
                "dedup_key": "INC-1",
                "summary": "s",
                "source": "a",
                "severity": "info",
                "timestamp": "yesterday",
            },
            "timestamp",
        ),  # fmt: skip
    ],
)
def test_events_pagerduty_would_reject_are_refused_before_sending(fields, bad):
    with pytest.raises(InvalidInput) as caught:
        PageEvent(**fields)
    assert bad in caught.value.fields


def test_event_survives_an_outbox_payload_round_trip():
    payload = json.loads(json.dumps(as_json(FIXTURE_TRIGGER)))
    assert from_json(payload) == FIXTURE_TRIGGER
    assert as_json(resolve()) == {"action": "resolve", "dedup_key": DEDUP_KEY}
    with pytest.raises(InvalidInput, match="colour"):
        from_json({**payload, "colour": "red"})
