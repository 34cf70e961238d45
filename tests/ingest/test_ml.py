"""ML-monitor adapter: one object or a list, grouped by model+slice+signal, shapes named."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput, Unauthorized
from incidents.ingest.ml import ADAPTER, SOURCE

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def drift(**changes: Any) -> dict[str, Any]:
    """A valid firing data-drift alert, with `changes` applied (None deletes a key)."""
    payload: dict[str, Any] = {
        "model": "fraud-model",
        "model_version": "2026.11.1",
        "environment": "prod",
        "service": "payments",
        "signal": "data_drift",
        "feature": "amount",
        "metric": "psi",
        "value": 0.31,
        "threshold": 0.25,
        "comparator": ">=",
        "slice": {"language": "de"},
        "window_start": "2026-11-25T14:00:00Z",
        "window_end": "2026-11-25T15:00:00Z",
        "status": "firing",
        "summary": "PSI of amount is significant for German traffic",
        "links": [{"href": "https://grafana.example/d/ml", "text": "dashboard"}],
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def parse(payload: Any) -> list[Alert]:
    return ADAPTER.parse(payload, NOW, {})


def test_single_object_maps_every_field():
    (alert,) = parse(drift())
    assert alert.source == SOURCE == "ml"
    assert alert.status is AlertStatus.FIRING
    assert alert.group_key == "ml:fraud-model|language=de|data_drift"
    assert len(alert.fingerprint) == 16
    assert alert.title == "data_drift on fraud-model (language=de): psi(amount) 0.31 >= 0.25"
    assert alert.starts_at == datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "window_end is detection"
    assert alert.impact_started_at == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    assert alert.ends_at is None
    assert alert.severity is Severity.SEV3
    assert alert.summary == "PSI of amount is significant for German traffic"
    assert (alert.model, alert.model_version, alert.service) == (
        "fraud-model",
        "2026.11.1",
        "payments",
    )
    assert alert.slice == {"language": "de"}
    assert alert.labels == {
        "model": "fraud-model",
        "signal": "data_drift",
        "metric": "psi",
        "feature": "amount",
        "environment": "prod",
        "model_version": "2026.11.1",
        "service": "payments",
        "slice_language": "de",
    }
    assert alert.annotations == {
        "value": "0.31",
        "threshold": "0.25",
        "comparator": ">=",
        "summary": "PSI of amount is significant for German traffic",
    }
    assert [(link.href, link.text) for link in alert.links] == [
        ("https://grafana.example/d/ml", "dashboard")
    ]


def test_minimal_object_uses_receipt_time_and_no_slice():
    payload = {
        "model": "m",
        "signal": "performance",
        "metric": "auc",
        "value": 0.61,
        "threshold": 0.7,
        "status": "firing",
    }
    (alert,) = parse(payload)
    assert alert.starts_at == NOW
    assert alert.impact_started_at is None
    assert alert.group_key == "ml:m||performance"
    assert alert.slice is None
    assert alert.title == "performance on m: auc 0.61 (threshold 0.7)"
    assert alert.annotations == {"value": "0.61", "threshold": "0.7"}
    assert set(alert.labels) == {"model", "signal", "metric"}
    assert alert.summary is None and alert.service is None and alert.model_version is None


def test_list_of_objects_groups_features_of_one_model_slice_and_signal():
    alerts = parse(
        [
            drift(feature="amount"),
            drift(feature="merchant_country", value=0.4),
            drift(slice={"language": "fr"}),
            drift(signal="performance", metric="auc", value=0.6, threshold=0.7, comparator="<"),
        ]
    )
    keys = [alert.group_key for alert in alerts]
    assert keys[0] == keys[1] == "ml:fraud-model|language=de|data_drift"
    assert keys[2] == "ml:fraud-model|language=fr|data_drift"
    assert keys[3] == "ml:fraud-model|language=de|performance"
    assert len({alert.fingerprint for alert in alerts}) == 4


def test_empty_list_yields_no_alerts():
    assert parse([]) == []


def test_fingerprint_is_stable_across_pushes_and_statuses():
    first = parse(drift(value=0.31, window_end="2026-11-25T15:00:00Z"))[0]
    later = parse(drift(value=0.12, status="resolved", window_end="2026-11-25T17:00:00Z"))[0]
    assert first.fingerprint == later.fingerprint
    assert first.group_key == later.group_key
    assert parse(drift(environment="staging"))[0].fingerprint != first.fingerprint
    assert parse(drift(model_version="2"))[0].fingerprint != first.fingerprint
    assert parse(drift(metric="js"))[0].fingerprint != first.fingerprint


def test_slice_key_is_sorted_and_becomes_labels():
    (alert,) = parse(drift(slice={"region": "eu", "language": "de"}))
    assert alert.group_key == "ml:fraud-model|language=de,region=eu|data_drift"
    assert alert.title.startswith("data_drift on fraud-model (language=de,region=eu): ")
    assert alert.labels["slice_region"] == "eu" and alert.labels["slice_language"] == "de"
    assert alert.slice == {"region": "eu", "language": "de"}
    same = parse(drift(slice={"language": "de", "region": "eu"}))[0]
    assert same.fingerprint == alert.fingerprint


@pytest.mark.parametrize("empty", [{}, None])
def test_empty_or_missing_slice_is_global(empty):
    (alert,) = parse(drift(slice=empty))
    assert alert.slice is None
    assert alert.group_key == "ml:fraud-model||data_drift"
    assert not any(name.startswith("slice_") for name in alert.labels)


@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        ("data_quality", Severity.SEV2),
        ("performance", Severity.SEV2),
        ("slo_burn", Severity.SEV2),
        ("prediction_drift", Severity.SEV3),
        ("data_drift", Severity.SEV3),
        ("Data_Drift", Severity.SEV3),
    ],
)
def test_default_severity_by_signal(signal, expected):
    (alert,) = parse(drift(signal=signal))
    assert alert.severity is expected
    assert alert.labels["signal"] == signal.lower()


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", Severity.SEV1),
        ("high", Severity.SEV2),
        ("error", Severity.SEV2),
        ("WARNING", Severity.SEV3),
        ("info", Severity.SEV4),
        ("low", Severity.SEV4),
        ("SEV1", Severity.SEV1),
        ("sev4", Severity.SEV4),
        (2, Severity.SEV2),
    ],
)
def test_severity_overrides_the_signal_default(severity, expected):
    (alert,) = parse(drift(signal="data_quality", severity=severity))
    assert alert.severity is expected


def test_detected_at_wins_over_window_end_and_times_are_utc():
    (alert,) = parse(
        drift(
            detected_at="2026-11-25T16:05:00.123456789+01:00",
            window_start="2026-11-25T13:00:00+01:00",
        )
    )
    assert alert.starts_at == datetime(2026, 11, 25, 15, 5, 0, 123456, tzinfo=UTC)
    assert alert.impact_started_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert alert.starts_at.tzinfo is UTC


def test_resolved_ends_at_window_end_else_receipt():
    (alert,) = parse(drift(status="resolved"))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    (bare,) = parse(drift(status="RESOLVED", window_end=None, window_start=None))
    assert bare.ends_at == NOW == bare.starts_at


def test_numeric_strings_and_integers_are_numbers():
    (alert,) = parse(drift(value=" 3 ", threshold=2, comparator="≥"))
    assert alert.annotations["value"] == "3"
    assert alert.annotations["threshold"] == "2"
    assert alert.annotations["comparator"] == ">="
    assert alert.title.endswith("psi(amount) 3 >= 2")


def test_links_may_be_plain_urls():
    (alert,) = parse(drift(links=["https://a.example", {"href": "https://b.example"}]))
    assert [(link.href, link.text) for link in alert.links] == [
        ("https://a.example", ""),
        ("https://b.example", ""),
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ("text", "body"),
        (3, "body"),
        (None, "body"),
        ([1], "[0]"),
        ([drift(), drift(), drift(metric=None)], "[2].metric"),
        ([drift(), drift(value="high")], "[1].value"),
        (drift(model=None), "model"),
        (drift(model=""), "model"),
        (drift(model=7), "model"),
        (drift(signal=None), "signal"),
        (drift(signal="latency"), "signal"),
        (drift(metric=["psi"]), "metric"),
        (drift(value=None), "value"),
        (drift(value=True), "value"),
        (drift(value="NaN"), "value"),
        (drift(value="1e999"), "value"),
        (drift(value=float("inf")), "value"),
        (drift(value=10**400), "value"),
        (drift(value={"v": 1}), "value"),
        (drift(threshold=None), "threshold"),
        (drift(threshold="0.2.5"), "threshold"),
        (drift(comparator="=="), "comparator"),
        (drift(comparator=1), "comparator"),
        (drift(slice=["language", "de"]), "slice"),
        (drift(slice={"language": 1}), "slice.language"),
        (drift(slice={"language": ""}), "slice.language"),
        (drift(slice={"": "de"}), "slice"),
        (drift(slice={"lang\nuage ": None}), "slice.lang\\nuage"),  # one line, escaped
        (drift(window_start="yesterday"), "window_start"),
        (drift(window_end="2026-11-25T15:00:00"), "window_end"),
        (drift(window_end=1764079200), "window_end"),
        (drift(window_start="2026-11-25T16:00:00Z"), "window_start"),
        (drift(detected_at="9999-12-31T23:59:59-01:00"), "detected_at"),
        (drift(status=None), "status"),
        (drift(status="acknowledged"), "status"),
        (drift(status=1), "status"),
        (drift(severity="urgent"), "severity"),
        (drift(severity=7), "severity"),
        (drift(severity=True), "severity"),
        (drift(links="https://a.example"), "links"),
        (drift(links=[3]), "links[0]"),
        (drift(links=[{"text": "x"}]), "links[0].href"),
        (drift(links=[{"href": "u", "text": 1}]), "links[0].text"),
        ([drift(), drift(links=[{}])], "[1].links[0].href"),
        (drift(environment=["prod"]), "environment"),
        (drift(summary={"a": 1}), "summary"),
        (drift(feature=False), "feature"),
    ],
)
def test_wrong_shapes_name_the_field(payload, field):
    with pytest.raises(InvalidInput) as caught:
        parse(payload)
    assert caught.value.fields == [field]
    assert caught.value.message.startswith(field)


def test_parse_does_not_mutate_its_input():
    payload = [drift(), drift(slice={"region": "eu", "language": "de"}, value="0.4")]
    before = copy.deepcopy(payload)
    parse(payload)
    assert payload == before


SETTINGS = Settings(webhook_token="ml-token-123")


def test_bearer_token_is_required_when_configured():
    ADAPTER.verify({"authorization": "Bearer ml-token-123"}, b"{}", SETTINGS, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({"authorization": "Bearer wrong"}, b"{}", SETTINGS, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({}, b"{}", SETTINGS, NOW)
    ADAPTER.verify({}, b"{}", Settings(), NOW)


# --- properties: whatever a sender posts, the answer is alerts or InvalidInput -------------

FIELDS = list(drift()) + ["detected_at", "severity"]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["firing", "resolved", "data_drift", ">=", "2026-11-25T15:00:00Z", "1e3"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=12,
)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> Any:
    """A valid alert with some fields replaced by arbitrary JSON or removed."""
    payload = drift(detected_at="2026-11-25T15:30:00Z", severity="high")
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        if draw(st.booleans()):
            payload[name] = draw(json_values)
        else:
            payload.pop(name, None)
    return draw(st.sampled_from([payload, [payload], [drift(), payload]]))


def check_alerts_or_invalid_input(payload: Any) -> None:
    before = repr(payload)
    try:
        alerts = parse(payload)
    except InvalidInput as exc:
        assert exc.fields and all(isinstance(field, str) for field in exc.fields)
    else:
        for alert in alerts:
            assert isinstance(alert, Alert)
            assert alert.starts_at.utcoffset() is not None
            assert alert.group_key.startswith("ml:")
    assert repr(payload) == before


@given(json_values)
def test_any_json_yields_alerts_or_invalid_input(payload):
    check_alerts_or_invalid_input(payload)


@given(mutated_payloads())
def test_mutated_valid_payloads_yield_alerts_or_invalid_input(payload):
    check_alerts_or_invalid_input(payload)
