"""Grafana adapter: every captured payload parses, legacy bodies are refused, HMAC vectors hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from incidents.config import Settings
from incidents.domain.alert import AlertStatus
from incidents.domain.severity import Severity
from incidents.errors import BadSignature, InvalidInput, Unauthorized
from incidents.ingest.grafana import ADAPTER, SOURCE, VALUES_ANNOTATION
from tests.payloads import load, raw, vectors

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def parse(name: str):
    return ADAPTER.parse(load(f"grafana/{name}.json"), NOW, {})


def test_docs_example_two_firing_alerts():
    alerts = parse("webhook_firing_docs_example")
    assert [a.fingerprint for a in alerts] == ["c6eadffa33fcdf37", "bc97ff14869b13e3"]
    assert {a.group_key for a in alerts} == {"{}:{}"}
    assert {a.source for a in alerts} == {SOURCE}
    first = alerts[0]
    assert first.status is AlertStatus.FIRING
    assert first.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert first.ends_at is None, "year-1 endsAt means still firing"
    assert first.severity is Severity.SEV3, "no severity label: the default"
    assert first.title == "This alert was triggered for zone us-1"
    assert first.summary == "The system has high memory usage"
    assert [(link.text, link.href) for link in first.links] == [
        ("source", "https://play.grafana.org/alerting/1afz29v7z/edit"),
        ("runbook", "https://myrunbook.com/runbook/1234"),
        (
            "silence",
            "https://play.grafana.org/alerting/silence/new?alertmanager=grafana"
            "&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1",
        ),
    ], "empty dashboardURL/panelURL add no link"
    assert first.annotations[VALUES_ANNOTATION] == "B=44.23943737541908, C=1"
    assert alerts[1].starts_at == datetime(2021, 10, 12, 7, 56, 3, 157076, tzinfo=UTC)


def test_v11_payload_with_values_and_all_links():
    (alert,) = parse("webhook_firing_values_v11_zulip")
    assert alert.fingerprint == "e6349a25f5ef0e9e"
    assert (
        alert.group_key == '{}/{debug="true"}:{alertname="Memory (copy)", grafana_folder="device"}'
    )
    assert alert.status is AlertStatus.FIRING
    assert alert.starts_at == datetime(2024, 3, 1, 2, 9, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.title == "High memory usage"
    assert [link.text for link in alert.links] == [
        "source",
        "dashboard",
        "panel",
        "silence",
        "image",
    ]
    links = {link.text: link.href for link in alert.links}
    assert links["panel"] == (
        "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?orgId=1&viewPanel=2"
    ), "\\u0026 decodes to &"
    assert links["image"] == "https://grafana.com/assets/img/blog/mixed_styles.png"
    assert alert.annotations == {
        "summary": "High memory usage",
        VALUES_ANNOTATION: "A=2473545728, B=0, C=1, minute=9",
    }


def test_v9_resolved_without_values():
    (alert,) = parse("webhook_resolved_v9_zulip")
    assert alert.fingerprint == "d8a21484c9c25a60"
    assert alert.group_key == '{}/{test="true"}:{}'
    assert alert.status is AlertStatus.RESOLVED
    assert alert.starts_at == datetime(2022, 6, 17, 0, 41, 0, 782137, tzinfo=UTC)
    assert alert.ends_at == datetime(2022, 6, 17, 0, 51, 24, 67337, tzinfo=UTC)
    assert [link.text for link in alert.links] == ["source", "runbook", "silence"]
    assert VALUES_ANNOTATION not in alert.annotations, "v9 sends no values"
    assert alert.annotations["summary"] == "This is a summary field, failure on <no value>"


def test_legacy_dashboard_alert_is_refused_with_a_pointer():
    with pytest.raises(InvalidInput) as caught:
        parse("legacy_dashboard_alerting_ok_zulip")
    assert caught.value.fields == ["body"]
    assert "legacy" in caught.value.message
    assert "unified-alerting webhook contact point" in caught.value.message


@pytest.mark.parametrize(
    "payload",
    [{"ruleName": "r", "state": "alerting"}, {"ruleId": 3}, {"evalMatches": [], "alerts": None}],
)
def test_any_legacy_marker_without_alerts_is_refused(payload):
    with pytest.raises(InvalidInput, match="legacy"):
        ADAPTER.parse(payload, NOW, {})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({"title": "custom template output"}, "groupKey"),
        ({"groupKey": "g", "alerts": [{"status": "pending"}]}, "alerts[0].status"),
    ],
)
def test_wrong_shapes_name_the_field(payload, field):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(payload, NOW, {})
    assert caught.value.fields == [field]


def test_values_null_or_absent_adds_nothing_and_a_sent_annotation_wins():
    payload = load("grafana/webhook_firing_values_v11_zulip.json")
    payload["alerts"][0]["values"] = None
    (alert,) = ADAPTER.parse(payload, NOW, {})
    assert VALUES_ANNOTATION not in alert.annotations
    payload["alerts"][0]["values"] = {"A": 1}
    payload["alerts"][0]["annotations"][VALUES_ANNOTATION] = "sent"
    (alert,) = ADAPTER.parse(payload, NOW, {})
    assert alert.annotations[VALUES_ANNOTATION] == "sent"


@pytest.mark.parametrize(
    "name",
    ["webhook_firing_docs_example", "webhook_firing_values_v11_zulip", "webhook_resolved_v9_zulip"],
)
def test_parse_does_not_mutate_its_input(name):
    payload = load(f"grafana/{name}.json")
    before = repr(payload)
    ADAPTER.parse(payload, NOW, {})
    assert repr(payload) == before


# --- authentication -------------------------------------------------------------------------

HMAC = {vector["id"]: vector for vector in vectors()["grafana_hmac"]}
BODY = raw("grafana/webhook_firing_docs_example.json")
SECRET = HMAC["no-timestamp"]["secret"]
TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
SIGNED_AT = datetime.fromtimestamp(int(HMAC["with-timestamp-header"]["timestamp"]), tz=UTC)


def timestamp_settings() -> Settings:
    return Settings(grafana_secret=SECRET, grafana_timestamp_header=TIMESTAMP_HEADER)


def test_hmac_vector_without_timestamp():
    signature = HMAC["no-timestamp"]["expected"]
    headers = {"x-grafana-alerting-signature": signature}
    ADAPTER.verify(headers, BODY, Settings(grafana_secret=SECRET), NOW)


def test_hmac_vector_with_timestamp_header():
    vector = HMAC["with-timestamp-header"]
    headers = {
        "X-Grafana-Alerting-Signature": vector["expected"],
        TIMESTAMP_HEADER: vector["timestamp"],
    }
    ADAPTER.verify(headers, BODY, timestamp_settings(), SIGNED_AT)


@pytest.mark.parametrize(
    ("skew", "accepted"), [(300, True), (-300, True), (301, False), (-301, False)]
)
def test_timestamp_window_is_five_minutes_either_way(skew, accepted):
    vector = HMAC["with-timestamp-header"]
    headers = {"x-grafana-alerting-signature": vector["expected"], TIMESTAMP_HEADER: "1700000000"}
    now = datetime.fromtimestamp(1700000000 + skew, tz=UTC)
    if accepted:
        ADAPTER.verify(headers, BODY, timestamp_settings(), now)
    else:
        with pytest.raises(BadSignature, match="window"):
            ADAPTER.verify(headers, BODY, timestamp_settings(), now)


def test_grafana_alerting_test_shape_vectors():
    vector = HMAC["grafana-alerting-test-shape"]
    body = vector["body"].encode()
    # Settings refuses the placeholder "secret", so build them without validation here.
    plain = Settings.model_construct(grafana_secret=SecretStr(vector["secret"]))
    ADAPTER.verify({"x-grafana-alerting-signature": vector["expected"]}, body, plain, NOW)
    headers = {
        "x-grafana-alerting-signature": vector["expected_with_timestamp_1700000000"],
        TIMESTAMP_HEADER.lower(): "1700000000",
    }
    stamped = Settings.model_construct(
        grafana_secret=SecretStr(vector["secret"]), grafana_timestamp_header=TIMESTAMP_HEADER
    )
    ADAPTER.verify(headers, body, stamped, SIGNED_AT)


def test_custom_signature_header_name():
    settings = Settings(grafana_secret=SECRET, grafana_signature_header="X-Sig")
    ADAPTER.verify({"x-sig": HMAC["no-timestamp"]["expected"]}, BODY, settings, NOW)


@pytest.mark.parametrize(
    ("headers", "body", "settings"),
    [
        pytest.param({}, BODY, Settings(grafana_secret=SECRET), id="missing-signature"),
        pytest.param({"x-grafana-alerting-signature": "0" * 64}, BODY,
                     Settings(grafana_secret=SECRET), id="wrong-signature"),
        pytest.param({"x-grafana-alerting-signature": HMAC["no-timestamp"]["expected"]},
                     BODY + b" ", Settings(grafana_secret=SECRET), id="tampered-body"),
        pytest.param({"x-grafana-alerting-signature": HMAC["no-timestamp"]["expected"]},
                     BODY, Settings(grafana_secret="another-secret"), id="wrong-secret"),
        pytest.param({"x-grafana-alerting-signature": HMAC["with-timestamp-header"]["expected"]},
                     BODY, timestamp_settings(), id="missing-timestamp"),
        pytest.param({"x-grafana-alerting-signature": HMAC["no-timestamp"]["expected"],
                      TIMESTAMP_HEADER: "1700000000"}, BODY, timestamp_settings(),
                     id="body-only-signature-when-timestamp-required"),
        pytest.param({"x-grafana-alerting-signature": HMAC["with-timestamp-header"]["expected"],
                      TIMESTAMP_HEADER: "17OOOOOOOO"}, BODY, timestamp_settings(),
                     id="non-numeric-timestamp"),
        pytest.param({"x-grafana-alerting-signature": HMAC["with-timestamp-header"]["expected"],
                      TIMESTAMP_HEADER: "1700000001"}, BODY, timestamp_settings(),
                     id="other-timestamp"),
    ],
)  # fmt: skip
def test_bad_signatures_are_refused(headers, body, settings):
    with pytest.raises(BadSignature):
        ADAPTER.verify(headers, body, settings, SIGNED_AT)


def test_a_bearer_token_does_not_replace_the_hmac_once_a_secret_is_set():
    settings = Settings(grafana_secret=SECRET, webhook_token="test-bearer-token-123")
    with pytest.raises(BadSignature):
        ADAPTER.verify({"authorization": "Bearer test-bearer-token-123"}, BODY, settings, NOW)


def test_without_a_secret_the_webhook_token_is_required():
    settings = Settings(webhook_token="test-bearer-token-123")
    ADAPTER.verify({"authorization": "Bearer test-bearer-token-123"}, BODY, settings, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({}, BODY, settings, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({"authorization": "Bearer wrong"}, BODY, settings, NOW)


def test_no_secret_and_no_token_means_open():
    ADAPTER.verify({}, BODY, Settings(), NOW)
