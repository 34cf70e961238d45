"""PagerDuty V3 webhook adapter: lifecycle events map to alerts, the rest is ignored; v1 vectors."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime

import pytest

from incidents.config import Settings
from incidents.domain.alert import AlertStatus, Link
from incidents.domain.severity import Severity
from incidents.errors import BadSignature, InvalidInput, Unauthorized
from incidents.ingest.pagerduty import ADAPTER, SOURCE, STATUS_MAP
from tests.payloads import load, raw, vectors

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def parse(name: str):
    return ADAPTER.parse(load(f"pagerduty/{name}.json"), NOW, {})


def test_triggered():
    (alert,) = parse("webhook_v3_incident_triggered_zulip")
    assert alert.source == SOURCE
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == alert.group_key == "PFQZPSY"
    assert alert.title == "Test Incident 3"
    assert alert.summary is None
    # This capture has no data.created_at, so the event time stands in.
    assert alert.starts_at == datetime(2021, 6, 4, 13, 35, 29, 781000, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.severity is Severity.SEV2, "no priority; urgency high"
    assert alert.service == "pig208"
    assert alert.links == (Link("https://pig208.pagerduty.com/incidents/PFQZPSY", "pagerduty"),)
    assert alert.labels == {
        "event_type": "incident.triggered",
        "incident_number": "9",
        "urgency": "high",
        "service": "pig208",
    }
    assert alert.actor is None


def test_acknowledged_starts_at_the_acknowledgement_by_the_agent():
    (alert,) = parse("webhook_v3_incident_acknowledged_zulip")
    assert alert.status is AlertStatus.ACKNOWLEDGED
    assert alert.fingerprint == alert.group_key == "PQ1K5C8"
    assert alert.starts_at == datetime(2021, 6, 4, 13, 55, 30, 394000, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.actor == "PIG 208"


def test_acknowledged_by_automation_has_no_actor():
    payload = load("pagerduty/webhook_v3_incident_acknowledged_zulip.json")
    payload["event"]["agent"] = None
    (alert,) = ADAPTER.parse(payload, NOW, {})
    assert alert.actor is None


def test_resolved_ends_when_it_occurred():
    (alert,) = parse("webhook_v3_incident_resolved_zulip")
    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == alert.group_key == "PCPZE64"
    occurred = datetime(2021, 6, 4, 13, 16, 53, 816000, tzinfo=UTC)
    assert alert.ends_at == occurred
    assert alert.starts_at == occurred, "no created_at in this capture: falls back"
    assert alert.actor is None


def test_created_at_is_the_start_of_firing_and_resolved_alerts():
    payload = load("pagerduty/webhook_v3_incident_priority_updated_docs.json")
    created = datetime(2020, 4, 9, 15, 16, 27, tzinfo=UTC)
    occurred = datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC)
    for event_type, ends_at in [
        ("incident.triggered", None),
        ("incident.reopened", None),
        ("incident.resolved", occurred),
    ]:
        payload["event"]["event_type"] = event_type
        (alert,) = ADAPTER.parse(payload, NOW, {})
        assert (alert.status, alert.starts_at, alert.ends_at) == (
            STATUS_MAP[event_type],
            created,
            ends_at,
        )
        assert alert.severity is Severity.SEV1, "priority P1 beats urgency high"
        assert alert.labels["priority"] == "P1"
        assert alert.service == "API Service"


@pytest.mark.parametrize(
    "name",
    [
        "webhook_v3_incident_priority_updated_docs",
        "webhook_v3_incident_priority_updated_go_pagerduty_signed_body",
        "webhook_v3_service_updated_docs",
        "webhook_v3_pagey_ping_n8n_readme",
    ],
)
def test_other_event_types_are_accepted_and_ignored(name):
    assert parse(name) == []


@pytest.mark.parametrize(
    "event_type",
    ["incident.unacknowledged", "incident.annotated", "incident.escalated", "service.deleted"],
)
def test_unmapped_event_types_need_no_incident_data(event_type):
    payload = {"event": {"event_type": event_type, "data": None}}
    assert ADAPTER.parse(payload, NOW, {}) == []


@pytest.mark.parametrize(
    ("priority", "urgency", "expected"),
    [
        ("P1", "low", Severity.SEV1),
        ("P2", "high", Severity.SEV2),
        ("P3", "high", Severity.SEV3),
        ("p4", "high", Severity.SEV4),
        ("P5", "high", Severity.SEV4),
        ("Custom", "high", Severity.SEV2),
        (None, "high", Severity.SEV2),
        (None, "low", Severity.SEV4),
        (None, None, Severity.SEV3),
    ],
)
def test_severity_from_priority_then_urgency(priority, urgency, expected):
    payload = load("pagerduty/webhook_v3_incident_triggered_zulip.json")
    data = payload["event"]["data"]
    data["priority"] = {"summary": priority, "type": "priority_reference"} if priority else None
    data["urgency"] = urgency
    (alert,) = ADAPTER.parse(payload, NOW, {})
    assert alert.severity is expected


def test_sparse_incident_event_still_parses():
    payload = {
        "event": {
            "event_type": "incident.triggered",
            "occurred_at": "2026-11-25T15:00:00Z",
            "data": {"id": "PXYZ", "service": None, "priority": None},
        }
    }
    (alert,) = ADAPTER.parse(payload, NOW, {})
    assert alert.title == "PagerDuty incident PXYZ"
    assert alert.service is None
    assert alert.links == ()
    assert alert.labels == {"event_type": "incident.triggered"}


def _triggered(**changes):
    payload = load("pagerduty/webhook_v3_incident_triggered_zulip.json")
    for path, value in changes.items():
        target = payload
        *parents, last = path.split("__")
        for name in parents:
            target = target[name]
        target[last] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({}, "event"),
        ({"event": []}, "event"),
        ({"event": {}}, "event.event_type"),
        ({"event": {"event_type": 7}}, "event.event_type"),
        (_triggered(event__data=None), "event.data"),
        (_triggered(event__data__id=None), "event.data.id"),
        (_triggered(event__data__id=""), "event.data.id"),
        (_triggered(event__occurred_at=None), "event.occurred_at"),
        (_triggered(event__occurred_at="yesterday"), "event.occurred_at"),
        (_triggered(event__data__created_at="2021-06-04T13:35:29"), "event.data.created_at"),
    ],
)
def test_wrong_shapes_name_the_field(payload, field):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(payload, NOW, {})
    assert caught.value.fields == [field]


def test_parse_does_not_mutate_its_input():
    payload = load("pagerduty/webhook_v3_incident_priority_updated_docs.json")
    payload["event"]["event_type"] = "incident.resolved"
    before = copy.deepcopy(payload)
    ADAPTER.parse(payload, NOW, {})
    assert payload == before


# --- delivery key ---------------------------------------------------------------------------


def test_delivery_key_prefers_the_webhook_id_header():
    body = raw("pagerduty/webhook_v3_incident_triggered_zulip.json")
    assert ADAPTER.delivery_key({"X-Webhook-Id": "wh-1"}, body) == "wh-1"
    assert ADAPTER.delivery_key({"x-webhook-id": "wh-1"}, body) == "wh-1"


def test_delivery_key_falls_back_to_the_event_id():
    body = raw("pagerduty/webhook_v3_incident_triggered_zulip.json")
    assert ADAPTER.delivery_key({}, body) == "01BZYIL05THJDFF2Y08X9SVMTU"
    assert ADAPTER.delivery_key({"x-webhook-id": " "}, body) == "01BZYIL05THJDFF2Y08X9SVMTU"


@pytest.mark.parametrize(
    "body", [b"not json", b"\xff\xfe", b"[1]", b'{"event": {"id": 5}}', b"[" * 100_000]
)
def test_delivery_key_of_unreadable_bodies_is_the_body_digest(body):
    assert ADAPTER.delivery_key({}, body) == hashlib.sha256(body).hexdigest()


# --- authentication: every v1 vector --------------------------------------------------------


def _vector_body(vector) -> bytes:
    if "body_ref" in vector:
        return raw(vector["body_ref"].split(" ", 1)[0])
    body: bytes = vector["body"].encode(vector.get("body_encoding", "utf-8"))
    return body


V1 = vectors()["pagerduty_v1"]


def test_every_v1_vector_is_covered():
    assert len(V1) == 10
    assert {v["valid"] for v in V1} == {True, False}


@pytest.mark.parametrize("vector", V1, ids=[v["id"] for v in V1])
def test_v1_signature_vectors(vector):
    settings = Settings(pagerduty_webhook_secret=vector["secret"])
    headers = {"X-PagerDuty-Signature": vector["header"]}
    body = _vector_body(vector)
    if vector["valid"]:
        ADAPTER.verify(headers, body, settings, NOW)
    else:
        with pytest.raises(BadSignature):
            ADAPTER.verify(headers, body, settings, NOW)


def test_re_serialised_vector_is_the_compact_form_of_the_signed_file():
    (vector,) = [v for v in V1 if v["id"] == "pretty-printed-vs-compact"]
    original = raw("pagerduty/webhook_v3_incident_triggered_zulip.json")
    assert vector["body"] == json.dumps(json.loads(original), separators=(",", ":"))


ROTATION = "v1=c8d070127694aea4de268133d2ba654ab6ba45acd9786e8b5d22c6886fc59ff9"
NEW_SIGNATURE = "v1=9e6f10e47824707555f510be3779864a8f20f603a8409dee5db6ad165359b149"
OLD = "pd_test_secret_old_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
NEW = "pd_test_secret_new_0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TRIGGERED = raw("pagerduty/webhook_v3_incident_triggered_zulip.json")


@pytest.mark.parametrize(
    ("configured", "header", "valid"),
    [
        (f"{OLD},{NEW}", NEW_SIGNATURE, True),
        (f"{OLD}, {NEW}", ROTATION.split(",")[0], True),
        (f" {NEW} ,", f"{ROTATION},{NEW_SIGNATURE}", True),
        ("pd_test_secret_other,another_one", f"{ROTATION},{NEW_SIGNATURE}", False),
        (",", NEW_SIGNATURE, False),
    ],
)
def test_several_configured_secrets_accept_any(configured, header, valid):
    settings = Settings(pagerduty_webhook_secret=configured)
    headers = {"x-pagerduty-signature": header}
    if valid:
        ADAPTER.verify(headers, TRIGGERED, settings, NOW)
    else:
        with pytest.raises(BadSignature):
            ADAPTER.verify(headers, TRIGGERED, settings, NOW)


def test_missing_signature_is_refused_even_with_the_token():
    settings = Settings(pagerduty_webhook_secret=NEW, webhook_token="test-bearer-token-123")
    with pytest.raises(BadSignature):
        ADAPTER.verify({"authorization": "Bearer test-bearer-token-123"}, TRIGGERED, settings, NOW)


def test_without_a_secret_the_webhook_token_is_required():
    settings = Settings(webhook_token="test-bearer-token-123")
    ADAPTER.verify({"Authorization": "Bearer test-bearer-token-123"}, TRIGGERED, settings, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({"x-pagerduty-signature": NEW_SIGNATURE}, TRIGGERED, settings, NOW)


def test_no_secret_and_no_token_means_open():
    ADAPTER.verify({}, TRIGGERED, Settings(), NOW)
