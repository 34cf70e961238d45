"""Alertmanager adapter: every captured payload parses; tokens are checked on raw bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from incidents.config import Settings
from incidents.domain.alert import AlertStatus, fnv1a_fingerprint
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput, Unauthorized
from incidents.ingest.alertmanager import ADAPTER
from tests.payloads import load, raw

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
GROUP = '{}:{alertname="HighErrorRate", service="checkout"}'


def parse(name: str):
    return ADAPTER.parse(load(f"alertmanager/{name}.json"), NOW, {})


def test_two_firing_alerts_of_one_group():
    alerts = parse("webhook_v4_firing_two_alerts")
    assert [a.fingerprint for a in alerts] == ["b251fc1b19e865a7", "a4cd78c914668c47"]
    assert {a.group_key for a in alerts} == {GROUP}
    first = alerts[0]
    assert first.status is AlertStatus.FIRING
    assert first.severity is Severity.SEV1
    assert first.starts_at == datetime(2026, 11, 25, 15, 41, 5, tzinfo=UTC)
    assert first.ends_at is None, "year-1 endsAt means no end"
    assert first.service == "checkout"
    assert first.title == "Checkout 5xx ratio above 5%"
    assert first.summary == "5xx ratio is 6.1% over the last 5m"
    assert [link.text for link in first.links] == ["source", "runbook"]


def test_mixed_group_keeps_per_alert_status():
    alerts = parse("webhook_v4_firing_one_resolved_one_firing")
    assert [(a.fingerprint, a.status) for a in alerts] == [
        ("b251fc1b19e865a7", AlertStatus.RESOLVED),
        ("a4cd78c914668c47", AlertStatus.FIRING),
    ]
    assert alerts[0].ends_at == datetime(2026, 11, 25, 15, 41, 14, tzinfo=UTC)


def test_resolved_notification():
    alerts = parse("webhook_v4_resolved")
    assert all(a.status is AlertStatus.RESOLVED for a in alerts)
    assert all(a.ends_at is not None and a.ends_at > a.starts_at for a in alerts)


def test_escaped_html_and_empty_generator_url():
    (alert,) = parse("webhook_v4_firing_no_generator_url")
    assert alert.title == "Share of drifted columns 0.67 >= 0.5"
    assert all(link.text != "source" for link in alert.links)
    assert alert.severity is Severity.SEV3
    assert alert.service == "fraud-model"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "HighErrorRate", "instance": "checkout-5d2b:8080", "job": "checkout",
          "service": "checkout", "severity": "critical"}, "b251fc1b19e865a7"),
        ({"alertname": "ModelDriftDetected", "service": "fraud-model", "severity": "warning"},
         "b56de6cfa26acd76"),
        ({"alertname": "alert1", "lbl1": "val1"}, "fac0861a85de433a"),
        ({}, "cbf29ce484222325"),
    ],
)  # fmt: skip
def test_fingerprint_vectors(labels, expected):
    assert fnv1a_fingerprint(labels) == expected


def test_null_maps_nanoseconds_missing_fingerprint_and_slice_labels():
    payload = {
        "version": "4",
        "groupKey": "g",
        "status": "firing",
        "commonAnnotations": None,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "SliceDrop", "model": "chatbot", "slice_language": "de"},
                "annotations": None,
                "startsAt": "2026-11-25T15:41:05.123456789+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }
    (alert,) = ADAPTER.parse(payload, NOW, {})
    assert alert.starts_at == datetime(2026, 11, 25, 13, 41, 5, 123456, tzinfo=UTC)
    assert alert.fingerprint == fnv1a_fingerprint(
        {"alertname": "SliceDrop", "model": "chatbot", "slice_language": "de"}
    )
    assert alert.model == "chatbot"
    assert alert.slice == {"language": "de"}
    assert alert.annotations == {}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({"alerts": []}, "groupKey"),
        ({"groupKey": "g"}, "alerts"),
        ({"groupKey": "g", "alerts": ["x"]}, "alerts[0]"),
        ({"groupKey": "g", "alerts": [{"status": "burning"}]}, "alerts[0].status"),
        ({"groupKey": "g", "alerts": [{"status": "firing"}]}, "alerts[0].startsAt"),
        ({"groupKey": "g", "alerts": [{"status": "firing", "startsAt": "yesterday"}]},
         "alerts[0].startsAt"),
        ({"groupKey": "g", "alerts": [{"status": "firing", "startsAt": "2026-11-25T10:00:00"}]},
         "alerts[0].startsAt"),
        ({"groupKey": "g", "alerts": [{"status": "firing",
                                       "startsAt": "9999-12-31T23:59:59-01:00"}]},
         "alerts[0].startsAt"),
        ({"groupKey": "g", "alerts": [{"status": "firing", "labels": [1],
                                       "startsAt": "2026-11-25T10:00:00Z"}]}, "alerts[0].labels"),
    ],
)  # fmt: skip
def test_wrong_shapes_name_the_field(payload, field):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(payload, NOW, {})
    assert caught.value.fields == [field]


def test_parse_does_not_mutate_its_input():
    payload = load("alertmanager/webhook_v4_firing_two_alerts.json")
    before = repr(payload)
    ADAPTER.parse(payload, NOW, {})
    assert repr(payload) == before


TOKEN = "test-bearer-token-123"
SETTINGS = Settings(webhook_token=TOKEN)


def test_captured_bearer_header_is_accepted():
    headers = load("alertmanager/webhook_request_headers.json")["headers"]
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["authorization"] == f"Bearer {TOKEN}"
    ADAPTER.verify(lowered, raw("alertmanager/webhook_v4_firing_two_alerts.json"), SETTINGS, NOW)


def test_basic_auth_with_the_token_as_password_is_accepted():
    settings = Settings(webhook_token="s3cr3t!")
    assert base64.b64encode(b"alertmanager:s3cr3t!").decode() == "YWxlcnRtYW5hZ2VyOnMzY3IzdCE="
    ADAPTER.verify({"authorization": "Basic YWxlcnRtYW5hZ2VyOnMzY3IzdCE="}, b"{}", settings, NOW)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        "Bearer",
        "Basic !!!notbase64",
        "Basic YWxlcnRtYW5hZ2VyOndyb25n",
        "Token x",
    ],
)
def test_wrong_or_missing_credentials_are_refused(authorization):
    headers = {"authorization": authorization} if authorization else {}
    with pytest.raises(Unauthorized):
        ADAPTER.verify(headers, b"{}", SETTINGS, NOW)


def test_no_token_configured_means_open():
    ADAPTER.verify({}, b"{}", Settings(), NOW)
