"""Events API v2 adapter: PagerDuty's request fixtures parse, its rules refuse, its auth holds."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime

import pytest

from incidents.config import Settings
from incidents.domain.alert import AlertStatus, Link
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput, Unauthorized
from incidents.ingest.events_v2 import (
    ADAPTER,
    SEVERITY_MAP,
    SOURCE,
    dedup_key_of,
    generated_dedup_key,
    validation_problems,
)
from tests.payloads import load, raw

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
CAPTURED_KEY = "incident-toolkit/checkout/HighErrorRate"


def parse(name: str):
    return ADAPTER.parse(load(name), NOW, {})


def test_docs_trigger():
    (alert,) = parse("pagerduty/events_v2_trigger_request_docs.json")
    assert alert.source == SOURCE
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == alert.group_key == "samplekeyhere"
    assert alert.starts_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC), "+0000 offset"
    assert alert.ends_at is None
    assert alert.severity is Severity.SEV4
    assert alert.title == alert.summary == "Example alert on host1.example.com"
    assert alert.labels == {
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:"
        "cluster/api-stats-prod-003",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
    }
    assert alert.annotations == {"ping time": "1500ms", "load avg": "0.75"}
    assert alert.links == (
        Link("https://example.com/", "Link text"),
        Link("https://monitoring.example.com", "Sample Monitoring Service"),
    )
    assert alert.service == "postgres", "component beats source"


def test_openapi_trigger():
    (alert,) = parse("pagerduty/events_v2_trigger_request_openapi_example.json")
    assert alert.fingerprint == alert.group_key == "srv01/mysql"
    assert alert.severity is Severity.SEV1
    assert alert.title == "DISK at 99% on machine prod-datapipe03.example.com"
    assert alert.annotations == {"free space": "1%", "ping time": "1500ms", "load avg": "0.75"}
    assert [link.text for link in alert.links] == ["An example link.", "Sample Monitoring Service"]
    assert alert.service == "mysql"
    assert "routing_key" not in alert.labels and "routing_key" not in alert.annotations


def test_python_pagerduty_trigger_without_timestamp_starts_when_received():
    (alert,) = parse("pagerduty/events_v2_trigger_request_python_pagerduty_7.2.0.json")
    assert alert.fingerprint == alert.group_key == CAPTURED_KEY
    assert alert.starts_at == NOW
    assert alert.severity is Severity.SEV1
    assert alert.title == "Checkout 5xx ratio above 5%"
    assert alert.annotations == {
        "num_firing": "2",
        "runbook_url": "https://runbooks.example.internal/checkout/high-error-rate",
    }
    assert alert.labels == {"source": "checkout.prod"}
    assert alert.links == (Link("http://alertmanager.example.internal:9093", "Alertmanager"),)
    assert alert.service == "checkout.prod", "no component: the source"


@pytest.mark.parametrize(
    ("name", "status", "key"),
    [
        ("events_v2_acknowledge_request_docs", AlertStatus.ACKNOWLEDGED, "dedupkeyhere"),
        ("events_v2_resolve_request_docs", AlertStatus.RESOLVED, "dedupkeyhere"),
        ("events_v2_acknowledge_request_python_pagerduty_7.2.0", AlertStatus.ACKNOWLEDGED,
         CAPTURED_KEY),
        ("events_v2_resolve_request_python_pagerduty_7.2.0", AlertStatus.RESOLVED, CAPTURED_KEY),
    ],
)  # fmt: skip
def test_acknowledge_and_resolve(name, status, key):
    (alert,) = parse(f"pagerduty/{name}.json")
    assert alert.status is status
    assert alert.fingerprint == alert.group_key == key
    assert alert.starts_at == NOW
    assert alert.ends_at == (NOW if status is AlertStatus.RESOLVED else None)
    assert alert.severity is Severity.SEV4, "never raises the incident's severity"
    assert alert.title == key
    assert alert.links == ()


def test_alertmanager_pagerduty_config_requests():
    (trigger,) = parse("alertmanager/pagerduty_config_events_v2_trigger.json")
    expected_key = "97510b418c30a6bc221ab8cd7f4d49d287215a8f33fc7173ad6f03934114edfb"
    assert trigger.group_key == expected_key
    assert trigger.title == "[FIRING:2] HighErrorRate checkout (checkout critical)"
    assert trigger.annotations["num_firing"] == "2"
    assert trigger.links == (Link("http://alertmanager.example.internal:9093", "Alertmanager"),)
    (resolve,) = parse("alertmanager/pagerduty_config_events_v2_resolve.json")
    assert resolve.status is AlertStatus.RESOLVED
    assert resolve.group_key == expected_key
    assert resolve.severity is Severity.SEV1, "a resolve's payload severity is kept"
    assert resolve.title == "[RESOLVED] HighErrorRate checkout (checkout critical)"


def test_severity_table():
    assert SEVERITY_MAP == {
        "critical": Severity.SEV1,
        "error": Severity.SEV2,
        "warning": Severity.SEV3,
        "info": Severity.SEV4,
    }


def trigger(**payload_changes):
    event = load("pagerduty/events_v2_trigger_request_python_pagerduty_7.2.0.json")
    for name, value in payload_changes.items():
        if value is None:
            event["payload"].pop(name, None)
        else:
            event["payload"][name] = value
    return event


def test_generated_dedup_key_is_deterministic_and_documented():
    event = trigger()
    del event["dedup_key"]
    (first,) = ADAPTER.parse(event, NOW, {})
    (again,) = ADAPTER.parse(json.loads(json.dumps(event, indent=4)), NOW, {})
    canonical = json.dumps(event["payload"], sort_keys=True, separators=(",", ":"))
    expected = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    assert first.group_key == first.fingerprint == again.group_key == expected
    assert generated_dedup_key(event["payload"]) == expected
    assert dedup_key_of([first]) == expected
    reordered = {key: event["payload"][key] for key in reversed(list(event["payload"]))}
    assert generated_dedup_key(reordered) == expected, "key order does not matter"
    assert generated_dedup_key({**event["payload"], "summary": "other"}) != expected


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_dedup_key_on_trigger_is_generated(blank):
    event = trigger()
    event["dedup_key"] = blank
    (alert,) = ADAPTER.parse(event, NOW, {})
    assert alert.group_key == generated_dedup_key(event["payload"])


def test_dedup_key_of():
    assert dedup_key_of([]) is None
    (alert,) = parse("pagerduty/events_v2_resolve_request_docs.json")
    assert dedup_key_of([alert]) == "dedupkeyhere"


def test_custom_details_are_flattened_to_strings():
    details = {"n": 1, "ok": True, "none": None, "nested": {"b": 2, "a": "é"}, "list": [1, "x"]}
    (alert,) = ADAPTER.parse(trigger(custom_details=details), NOW, {})
    assert alert.annotations == {
        "n": "1",
        "ok": "true",
        "none": "null",
        "nested": '{"a":"é","b":2}',
        "list": '[1,"x"]',
    }
    (alert,) = ADAPTER.parse(trigger(custom_details="disk full"), NOW, {})
    assert alert.annotations == {"details": "disk full"}


def test_custom_details_service_names_the_service():
    (alert,) = ADAPTER.parse(
        trigger(component="db", custom_details={"service": "checkout"}), NOW, {}
    )
    assert alert.service == "checkout"


def test_timestamp_with_offset_and_nanoseconds():
    (alert,) = ADAPTER.parse(trigger(timestamp="2026-11-25T15:41:05.123456789+02:00"), NOW, {})
    assert alert.starts_at == datetime(2026, 11, 25, 13, 41, 5, 123456, tzinfo=UTC)


def test_links_without_href_are_skipped():
    event = trigger()
    event["links"] = [{"text": "no href"}, "x", {"href": "https://a.example/"}]
    event["client"] = ""
    event["client_url"] = "https://client.example/"
    (alert,) = ADAPTER.parse(event, NOW, {})
    assert alert.links == (
        Link("https://a.example/", ""),
        Link("https://client.example/", "client"),
    )


def _without(name: str, *, source: str = "pagerduty/events_v2_trigger_request_docs.json"):
    event = load(source)
    target = event
    *parents, last = name.split(".")
    for parent in parents:
        target = target[parent]
    del target[last]
    return event


@pytest.mark.parametrize(
    ("event", "fields", "message"),
    [
        (_without("routing_key"), ["routing_key"], "'routing_key' is missing or blank"),
        ({**load("pagerduty/events_v2_trigger_request_docs.json"), "routing_key": 5},
         ["routing_key"], "'routing_key' is missing or blank"),
        (_without("event_action"), ["event_action"], "'event_action' must be one of"),
        ({**load("pagerduty/events_v2_trigger_request_docs.json"), "event_action": "snooze"},
         ["event_action"], "must be one of trigger, acknowledge, resolve"),
        ({**load("pagerduty/events_v2_trigger_request_docs.json"), "event_action": ["trigger"]},
         ["event_action"], "'event_action'"),
        (_without("payload"), ["payload"], "'payload' is missing"),
        (_without("payload.summary"), ["payload.summary"], "'payload.summary' is missing or blank"),
        (_without("payload.source"), ["payload.source"], "'payload.source' is missing or blank"),
        (_without("payload.severity"), ["payload.severity"],
         "'payload.severity' is missing or blank"),
        (trigger(severity="fatal"), ["payload.severity"],
         "'payload.severity' must be one of critical, error, warning, info"),
        (trigger(summary="x" * 1025), ["payload.summary"],
         "Length of 'payload.summary' is too long (should be at most 1024 characters)"),
        (trigger(summary="   "), ["payload.summary"], "'payload.summary' is missing or blank"),
        (trigger(timestamp="2026-11-25T15:41:05"), ["payload.timestamp"], "no timezone offset"),
        (trigger(timestamp="soon"), ["payload.timestamp"], "not an RFC 3339 time"),
        (_without("dedup_key", source="pagerduty/events_v2_resolve_request_docs.json"),
         ["dedup_key"], "'dedup_key' is missing or blank"),
        (_without("dedup_key", source="pagerduty/events_v2_acknowledge_request_docs.json"),
         ["dedup_key"], "'dedup_key' is missing or blank"),
        ({**load("pagerduty/events_v2_resolve_request_docs.json"), "dedup_key": " "},
         ["dedup_key"], "'dedup_key' is missing or blank"),
        ({**load("pagerduty/events_v2_resolve_request_docs.json"), "dedup_key": 42},
         ["dedup_key"], "'dedup_key' must be a string"),
        ({**load("pagerduty/events_v2_trigger_request_docs.json"), "dedup_key": "k" * 256},
         ["dedup_key"], "should be at most 255 characters"),
        (trigger(summary=None, source=None, severity=None),
         ["payload.summary", "payload.source", "payload.severity"], "'payload.source'"),
        ({"event_action": "resolve"}, ["routing_key", "dedup_key"], "'dedup_key'"),
    ],
)  # fmt: skip
def test_invalid_events_name_every_field(event, fields, message):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(event, NOW, {})
    assert caught.value.fields == fields
    assert message in caught.value.message


def test_validation_problems_list_each_message_for_the_errors_answer():
    assert validation_problems(load("pagerduty/events_v2_trigger_request_docs.json")) == []
    assert validation_problems({"event_action": "resolve", "routing_key": "k"}) == [
        ("dedup_key", "'dedup_key' is missing or blank")
    ]


def test_longest_dedup_key_and_summary_are_accepted():
    event = trigger(summary="s" * 1024)
    event["dedup_key"] = "k" * 255
    (alert,) = ADAPTER.parse(event, NOW, {})
    assert alert.group_key == "k" * 255


@pytest.mark.parametrize("body", [[], "trigger", None, 3])
def test_non_object_body(body):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(body, NOW, {})
    assert caught.value.fields == ["body"]


def test_acknowledge_and_resolve_ignore_a_missing_or_odd_payload():
    event = load("pagerduty/events_v2_resolve_request_docs.json")
    event["payload"] = "ignored"
    (alert,) = ADAPTER.parse(event, NOW, {})
    assert alert.status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    "name",
    [
        "pagerduty/events_v2_trigger_request_docs.json",
        "pagerduty/events_v2_trigger_request_openapi_example.json",
        "alertmanager/pagerduty_config_events_v2_resolve.json",
    ],
)
def test_parse_does_not_mutate_its_input(name):
    event = load(name)
    before = copy.deepcopy(event)
    ADAPTER.parse(event, NOW, {})
    assert event == before


# --- authentication -------------------------------------------------------------------------

TOKEN = "0123456789abcdef0123456789abcdef"  # the routing_key of the python-pagerduty captures
SETTINGS = Settings(webhook_token=TOKEN)
CAPTURED_BODY = raw("pagerduty/events_v2_trigger_request_python_pagerduty_7.2.0.json")


def test_routing_key_equal_to_the_token_authenticates():
    headers = load("pagerduty/events_v2_request_headers_python_pagerduty_7.2.0.json")["headers"]
    assert "authorization" not in headers, "the pagerduty client sends no auth header"
    ADAPTER.verify(headers, CAPTURED_BODY, SETTINGS, NOW)


def test_bearer_token_authenticates_whatever_the_routing_key():
    body = raw("pagerduty/events_v2_trigger_request_docs.json")
    ADAPTER.verify({"Authorization": f"Bearer {TOKEN}"}, body, SETTINGS, NOW)
    ADAPTER.verify({"authorization": f"Bearer {TOKEN}"}, b"not json", SETTINGS, NOW)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, raw("pagerduty/events_v2_trigger_request_docs.json")),
        ({"authorization": "Bearer wrong"}, raw("pagerduty/events_v2_trigger_request_docs.json")),
        ({}, b"not json"),
        ({}, TOKEN.encode()),
        ({}, json.dumps([{"routing_key": TOKEN}]).encode()),
        ({}, json.dumps({"routing_key": [TOKEN]}).encode()),
        ({}, json.dumps({"routing_key": TOKEN + "x"}).encode()),
        ({}, b"[" * 100_000),
    ],
)
def test_wrong_or_missing_credentials_are_refused(headers, body):
    with pytest.raises(Unauthorized):
        ADAPTER.verify(headers, body, SETTINGS, NOW)


def test_no_token_configured_means_open():
    ADAPTER.verify({}, b"not json", Settings(), NOW)
