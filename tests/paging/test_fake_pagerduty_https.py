"""The real ``pagerduty`` client over real TLS to the fake PagerDuty on loopback: trusted
through ``INCIDENTS_PAGERDUTY_CA_BUNDLE``, refused (retryably, naming the certificate)
without it, and the fake's events, scripted failures and paginated on-calls."""

from __future__ import annotations

import pytest

from incidents.config import Settings
from incidents.errors import DeliveryFailed
from incidents.paging.events import PageEvent, events_client, send_event
from incidents.paging.oncall import on_call_now, rest_client
from tests.fake_pagerduty import API_TOKEN, ROUTING_KEY, fake_pagerduty, on_call, service

TRIGGER = PageEvent(action="trigger", dedup_key="INC-42", summary="INC-42 SEV1: checkout down",
                    source="checkout", severity="critical",
                    links=[{"href": "https://incidents.example/api/incidents/INC-42",
                            "text": "INC-42 in incidents"}])  # fmt: skip


@pytest.fixture
def pagerduty():
    with fake_pagerduty() as running:
        yield running


def test_trigger_over_https_with_the_ca_bundle_is_recorded(pagerduty):
    url, ca_bundle, state = pagerduty
    settings = Settings(pagerduty_events_url=url, pagerduty_ca_bundle=ca_bundle)
    with events_client(settings, ROUTING_KEY) as client:
        result = send_event(client, TRIGGER)
    assert result == {"status": "success", "dedup_key": "INC-42"}
    [event] = state.accepted()
    assert event.body == {
        "event_action": "trigger",
        "dedup_key": "INC-42",
        "routing_key": ROUTING_KEY,
        "payload": {"summary": "INC-42 SEV1: checkout down", "source": "checkout",
                    "severity": "critical"},
        "links": [{"href": "https://incidents.example/api/incidents/INC-42",
                   "text": "INC-42 in incidents"}],
    }  # fmt: skip
    assert event.headers["user-agent"].startswith("python-pagerduty/7.")
    assert event.headers["content-type"] == "application/json"


def test_the_certificate_also_names_localhost(pagerduty):
    url, ca_bundle, state = pagerduty
    local = url.replace("127.0.0.1", "localhost")
    settings = Settings(pagerduty_events_url=local, pagerduty_ca_bundle=ca_bundle)
    with events_client(settings, ROUTING_KEY) as client:
        send_event(client, PageEvent(action="resolve", dedup_key="INC-42"))
    assert [event.body["event_action"] for event in state.accepted()] == ["resolve"]


def test_without_the_ca_bundle_the_send_fails_retryably_naming_the_certificate(pagerduty):
    url, _ca_bundle, state = pagerduty
    settings = Settings(pagerduty_events_url=url, pagerduty_ca_bundle=None)
    with events_client(settings, ROUTING_KEY) as client, pytest.raises(DeliveryFailed) as caught:
        send_event(client, TRIGGER)
    failure = caught.value
    assert not failure.permanent
    assert "certificate" in failure.message
    assert "INCIDENTS_PAGERDUTY_CA_BUNDLE" in failure.message
    assert ROUTING_KEY not in failure.message
    assert state.events == []  # TLS failed before any HTTP


def test_a_short_routing_key_gets_pagerdutys_400_and_is_permanent(pagerduty):
    url, ca_bundle, state = pagerduty
    settings = Settings(pagerduty_events_url=url, pagerduty_ca_bundle=ca_bundle)
    with events_client(settings, "too-short") as client, pytest.raises(DeliveryFailed) as caught:
        send_event(client, TRIGGER)
    assert caught.value.permanent
    assert "Length of 'routing_key' is incorrect" in caught.value.message
    assert "too-short" not in caught.value.message
    [event] = state.events
    assert event.status == 400


def test_a_scripted_rate_limit_is_one_attempt_and_keeps_retry_after(pagerduty):
    url, ca_bundle, state = pagerduty
    state.fail("/v2/enqueue", status=429, retry_after=12)
    settings = Settings(pagerduty_events_url=url, pagerduty_ca_bundle=ca_bundle)
    with events_client(settings, ROUTING_KEY) as client:
        with pytest.raises(DeliveryFailed) as caught:
            send_event(client, TRIGGER)
        assert (caught.value.permanent, caught.value.retry_after) == (False, 12.0)
        assert state.count("/v2/enqueue") == 1
        send_event(client, TRIGGER)  # the failure was scripted once
    assert [event.status for event in state.events] == [429, 202]


def test_on_call_through_the_fake_follows_pagination(pagerduty):
    url, ca_bundle, state = pagerduty
    state.services["PSVC123"] = service("PSVC123", name="checkout", escalation_policy_id="PEP1")
    names = ["Eve", "Dan", "Cid", "Bea", "Ann"]
    state.oncalls.extend(
        on_call(user_id=f"PU{name.upper()}", name=name, email=f"{name.lower()}@example.com",
                level=level, escalation_policy_id="PEP1")
        for level, name in enumerate(names, start=1)
    )  # fmt: skip
    state.oncalls.append(on_call(user_id="PUOTHER", name="Other", email="o@example.com",
                                 level=1, escalation_policy_id="PEP9"))  # fmt: skip
    settings = Settings(pagerduty_api_url=url, pagerduty_ca_bundle=ca_bundle,
                        pagerduty_api_token=API_TOKEN)  # fmt: skip
    with rest_client(settings) as client:
        client.default_page_size = 2
        people = on_call_now(client, service_id="PSVC123")
    assert [(p.escalation_level, p.name, p.email) for p in people] == [
        (level, name, f"{name.lower()}@example.com") for level, name in enumerate(names, start=1)
    ]
    assert state.count("/oncalls") == 3


def test_a_wrong_api_token_is_refused_by_the_fake(pagerduty):
    url, ca_bundle, state = pagerduty
    state.services["PSVC123"] = service("PSVC123", name="checkout", escalation_policy_id="PEP1")
    settings = Settings(pagerduty_api_url=url, pagerduty_ca_bundle=ca_bundle,
                        pagerduty_api_token="not-the-token")  # fmt: skip
    with rest_client(settings) as client, pytest.raises(DeliveryFailed) as caught:
        on_call_now(client, service_id="PSVC123")
    assert caught.value.permanent
    assert "not-the-token" not in caught.value.message
