"""Evidently adapter: every recorded shape gives exactly one alert per model+slice."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput, Unauthorized
from incidents.ingest.evidently import ADAPTER, SOURCE
from tests.payloads import load

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
PARAMS = {"model": "loan-default"}
V2 = "evidently/report_v2_datadrift_preset_with_tests.json"
V2_NO_DRIFT = "evidently/report_v2_datadrift_preset_with_tests_no_drift.json"
LEGACY_SUITE = "evidently/legacy_test_suite_data_drift_preset.json"
LEGACY_REPORT = "evidently/legacy_report_data_drift_preset.json"


def parse(payload: Any, params: dict[str, str] | None = None, now: datetime = NOW) -> Alert:
    alerts = ADAPTER.parse(payload, now, PARAMS if params is None else params)
    assert len(alerts) == 1, "one alert per model+slice, however many columns drifted"
    return alerts[0]


def test_v2_report_with_failing_tests_fires():
    alert = parse(load(V2))
    assert alert.source == SOURCE == "evidently"
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "Data drift on loan-default: 2 of 3 columns drifted (share 0.67 ≥ 0.50)"
    assert alert.group_key == alert.fingerprint == "evidently:loan-default|"
    assert alert.starts_at == NOW, "0.7 snapshots carry no timestamp"
    assert alert.ends_at is None
    assert alert.severity is Severity.SEV3
    annotations = alert.annotations
    assert annotations["drifted_columns"] == "age, country"
    assert annotations["failed_tests"] == (
        "Share of Drifted Columns: Less 0.500; Value Drift for column age; "
        "Value Drift for column country"
    )
    assert annotations["drifted_count"] == "2"
    assert annotations["columns"] == "3"
    assert annotations["drifted_share"] == "0.6667"
    assert annotations["drift_share"] == "0.5"
    assert annotations["tests"] == "FAIL=3, SUCCESS=1"
    assert annotations["column_scores"] == (
        "age=4.87e-10 (K-S p_value, threshold 0.05, drifted); "
        "income=0.866 (K-S p_value, threshold 0.05); "
        "country=1.86e-11 (chi-square p_value, threshold 0.05, drifted)"
    )
    assert alert.summary is not None and "age, country" in alert.summary
    assert alert.labels == {"model": "loan-default", "signal": "data_drift"}
    assert (alert.model, alert.model_version, alert.slice, alert.service) == (
        "loan-default",
        None,
        None,
        None,
    )


def test_v2_report_without_drift_resolves_at_receipt():
    alert = parse(load(V2_NO_DRIFT))
    assert alert.status is AlertStatus.RESOLVED
    assert (
        alert.title == "No data drift on loan-default: 0 of 3 columns drifted (share 0.00 < 0.50)"
    )
    assert alert.ends_at == NOW == alert.starts_at
    assert "drifted_columns" not in alert.annotations
    assert "failed_tests" not in alert.annotations
    assert alert.annotations["tests"] == "SUCCESS=4"
    assert alert.fingerprint == parse(load(V2)).fingerprint, "the resolve finds the firing alert"


def test_legacy_test_suite_fires_on_its_own_limit_of_0_3():
    alert = parse(load(LEGACY_SUITE))
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "Data drift on loan-default: 2 of 3 columns drifted (share 0.67 ≥ 0.30)"
    assert alert.annotations["drifted_columns"] == "age, country"
    assert alert.annotations["failed_tests"] == (
        "Share of Drifted Columns; Drift per Column (country); Drift per Column (age)"
    )
    assert alert.annotations["drift_share"] == "0.3"
    assert alert.annotations["tests"] == "FAIL=3, SUCCESS=1"
    # The naive legacy timestamp is read as UTC.
    assert alert.starts_at == datetime(2026, 11, 25, 15, 44, 36, 667493, tzinfo=UTC)


def test_legacy_report_fires_on_dataset_drift():
    alert = parse(load(LEGACY_REPORT))
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "Data drift on loan-default: 2 of 3 columns drifted (share 0.67 ≥ 0.50)"
    assert alert.annotations["drifted_columns"] == "age, country"
    assert "failed_tests" not in alert.annotations
    assert alert.annotations["column_scores"].startswith("age=4.87e-10 (K-S p_value, ")
    assert alert.starts_at == datetime(2026, 11, 25, 15, 44, 36, 699094, tzinfo=UTC)


def test_legacy_report_without_dataset_drift_resolves():
    payload = load(LEGACY_REPORT)
    for metric in payload["metrics"]:
        metric["result"]["dataset_drift"] = False
    alert = parse(payload)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.title.startswith("Data drift within tolerance on loan-default: 2 of 3 columns")


def test_legacy_timestamp_after_receipt_is_clamped():
    payload = load(LEGACY_SUITE)
    alert = parse(payload, now=datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    assert alert.starts_at == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def test_aware_timestamp_is_converted_to_utc():
    payload = load(LEGACY_SUITE) | {"timestamp": "2026-11-25T16:44:36+01:00"}
    assert parse(payload).starts_at == datetime(2026, 11, 25, 15, 44, 36, tzinfo=UTC)


def test_params_name_version_slice_and_severity():
    params = {
        "model": "loan-default",
        "version": "7",
        "slice": " region = eu , language=de",
        "severity": "critical",
    }
    alert = parse(load(V2), params)
    assert alert.group_key == alert.fingerprint == "evidently:loan-default|language=de,region=eu"
    assert alert.title.startswith("Data drift on loan-default (language=de,region=eu): 2 of 3")
    assert alert.slice == {"region": "eu", "language": "de"}
    assert alert.model_version == "7"
    assert alert.severity is Severity.SEV1
    assert alert.labels == {
        "model": "loan-default",
        "model_version": "7",
        "signal": "data_drift",
        "slice_region": "eu",
        "slice_language": "de",
    }


def test_version_is_not_part_of_the_group():
    first = parse(load(V2), {"model": "m", "version": "1"})
    second = parse(load(V2_NO_DRIFT), {"model": "m", "version": "2"})
    assert first.group_key == second.group_key


def test_error_fires_and_warning_does_not():
    payload = load(V2_NO_DRIFT)
    payload["tests"][1]["status"] = "WARNING"
    assert parse(payload).status is AlertStatus.RESOLVED
    payload["tests"][1]["status"] = "ERROR"
    alert = parse(payload)
    assert alert.status is AlertStatus.FIRING
    assert alert.annotations["failed_tests"] == "Value Drift for column age [ERROR]"
    assert alert.title == "Evidently tests failing on loan-default: 1 of 4 tests failing"


def test_non_critical_share_test_does_not_fire_but_column_is_named():
    payload = load(V2)
    for test in payload["tests"]:
        test["status"] = "WARNING" if test["status"] == "FAIL" else test["status"]
    alert = parse(payload)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.annotations["drifted_columns"] == "age, country"
    assert alert.title.startswith("Data drift within tolerance on loan-default: 2 of 3")


def test_v2_report_without_tests_uses_evidently_rules():
    payload = load(V2)
    del payload["tests"]
    alert = parse(payload)
    assert alert.status is AlertStatus.FIRING, "share 0.67 >= drift_share 0.5"
    assert alert.annotations["drifted_columns"] == "age, country", "p-value below threshold"
    quiet = load(V2_NO_DRIFT)
    del quiet["tests"]
    assert parse(quiet).status is AlertStatus.RESOLVED


def test_distance_methods_drift_at_or_above_the_threshold():
    payload = {
        "metrics": [
            {
                "metric_name": "ValueDrift(column=score)",
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": "score",
                    "method": "Wasserstein distance (normed)",
                    "threshold": 0.1,
                },
                "value": 0.1,
            }
        ]
    }
    alert = parse(payload)
    assert alert.annotations["drifted_columns"] == "score"
    assert alert.status is AlertStatus.RESOLVED, "one drifted column alone is no dataset drift"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "model"),
        ({"model": "  "}, "model"),
        ({"model": "m", "slice": "language"}, "slice"),
        ({"model": "m", "slice": "language=de,"}, "slice"),
        ({"model": "m", "slice": "=de"}, "slice"),
        ({"model": "m", "slice": "language="}, "slice"),
        ({"model": "m", "slice": "a=1,a=2"}, "slice"),
        ({"model": "m", "severity": "urgent"}, "severity"),
    ],
)
def test_bad_params_name_the_parameter(params, field):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(load(V2), NOW, params)
    assert caught.value.fields == [field]


def test_missing_model_says_how_to_fix_it():
    with pytest.raises(InvalidInput, match=r"\?model="):
        ADAPTER.parse(load(V2), NOW, {})


def test_empty_slice_param_is_global():
    assert parse(load(V2), {"model": "m", "slice": ""}).slice is None


def with_change(relative: str, path: tuple[Any, ...], value: Any) -> Any:
    """A recorded payload with the value at `path` replaced (or deleted for ...)."""
    payload = load(relative)
    target = payload
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ("report", "body"),
        ({"version": "0.7.23"}, "body"),
        ({"metrics": []}, "body"),
        ({"metrics": [{"metric": "ColumnSummaryMetric", "result": {}}]}, "body"),
        ({"metrics": {}}, "metrics"),
        ({"tests": "all passed"}, "tests"),
        ({"tests": [1]}, "tests[0]"),
        ({"metrics": [None]}, "metrics[0]"),
        (with_change(V2, ("tests", 2, "status"), "PASSED"), "tests[2].status"),
        (with_change(V2, ("tests", 2, "status"), None), "tests[2].status"),
        (with_change(V2, ("tests", 0, "name"), 5), "tests[0].name"),
        (with_change(V2, ("metrics", 0, "value"), 2), "metrics[0].value"),
        (with_change(V2, ("metrics", 0, "value", "count"), "2"), "metrics[0].value.count"),
        (with_change(V2, ("metrics", 0, "value", "count"), -1), "metrics[0].value.count"),
        (with_change(V2, ("metrics", 0, "value", "share"), True), "metrics[0].value.share"),
        (with_change(V2, ("metrics", 1, "config", "column"), ...), "metrics[1].config.column"),
        (with_change(V2, ("metrics", 1, "value"), "0.1"), "metrics[1].value"),
        (with_change(V2, ("metrics", 1, "config", "threshold"), []),
         "metrics[1].config.threshold"),
        (with_change(LEGACY_REPORT, ("metrics", 0, "result"), None), "metrics[0].result"),
        (with_change(LEGACY_REPORT, ("metrics", 0, "result", "dataset_drift"), "yes"),
         "metrics[0].result.dataset_drift"),
        (with_change(LEGACY_REPORT, ("metrics", 1, "result", "drift_by_columns"), []),
         "metrics[1].result.drift_by_columns"),
        (with_change(LEGACY_REPORT, ("metrics", 1, "result", "drift_by_columns", "age"), 1),
         "metrics[1].result.drift_by_columns.age"),
        (with_change(LEGACY_REPORT,
                     ("metrics", 1, "result", "drift_by_columns", "age", "drift_detected"), ...),
         "metrics[1].result.drift_by_columns.age.drift_detected"),
        (with_change(LEGACY_REPORT,
                     ("metrics", 1, "result", "drift_by_columns", "age", "drift_score"), "low"),
         "metrics[1].result.drift_by_columns.age.drift_score"),
        (with_change(LEGACY_SUITE, ("timestamp",), "yesterday"), "timestamp"),
        (with_change(LEGACY_SUITE, ("timestamp",), 1764085476), "timestamp"),
        (with_change(LEGACY_SUITE, ("tests", 0, "parameters", "features"), ["age"]),
         "tests[0].parameters.features"),
        (with_change(LEGACY_SUITE, ("tests", 0, "parameters", "features", "age", "detected"),
                     "true"), "tests[0].parameters.features.age.detected"),
        (with_change(LEGACY_SUITE, ("tests", 1, "parameters", "column_name"), 3),
         "tests[1].parameters.column_name"),
    ],
)  # fmt: skip
def test_wrong_shapes_name_the_field(payload, field):
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(payload, NOW, PARAMS)
    assert caught.value.fields == [field]


def test_a_column_name_with_a_line_break_is_escaped_in_the_error():
    """A column name is the sender's text: the error naming it stays one line."""
    payload = with_change(LEGACY_REPORT, ("metrics", 1, "result", "drift_by_columns", "a\nb"), 1)
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse(payload, NOW, PARAMS)
    assert caught.value.fields == ["metrics[1].result.drift_by_columns.a\\nb"]
    assert "\n" not in caught.value.message


def test_neither_shape_names_the_accepted_shapes():
    with pytest.raises(InvalidInput) as caught:
        ADAPTER.parse({"hello": "world"}, NOW, PARAMS)
    assert "0.7 Report" in caught.value.message
    assert "legacy Report" in caught.value.message
    assert "legacy TestSuite" in caught.value.message


@pytest.mark.parametrize("relative", [V2, V2_NO_DRIFT, LEGACY_SUITE, LEGACY_REPORT])
def test_parse_does_not_mutate_its_input(relative):
    payload = load(relative)
    before = copy.deepcopy(payload)
    parse(payload, {"model": "m", "slice": "language=de"})
    assert payload == before


SETTINGS = Settings(webhook_token="evidently-token-1")


def test_bearer_token_is_required_when_configured():
    ADAPTER.verify({"authorization": "Bearer evidently-token-1"}, b"{}", SETTINGS, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({"authorization": "Bearer nope"}, b"{}", SETTINGS, NOW)
    with pytest.raises(Unauthorized):
        ADAPTER.verify({}, b"{}", SETTINGS, NOW)


# --- property: whatever a job posts, the answer is one alert or InvalidInput --------------

KEYS = ["metrics", "tests", "timestamp", "metric", "result", "config", "type", "value",
        "status", "name", "parameters", "features", "drift_by_columns", "dataset_drift",
        "metric_config", "metric_id", "id", "count", "share", "column", "detected"]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["FAIL", "ERROR", "DataDriftTable", "evidently:metric_v2:ValueDrift"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=14,
)


@st.composite
def mutated_reports(draw: st.DrawFn) -> Any:
    """A recorded payload with one nested value replaced by arbitrary JSON."""
    payload = load(draw(st.sampled_from([V2, V2_NO_DRIFT, LEGACY_SUITE, LEGACY_REPORT])))
    target = payload
    while isinstance(target, dict | list) and target and draw(st.integers(0, 3)):
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = draw(st.sampled_from(keys))
        if not isinstance(target[key], dict | list) or not target[key]:
            break
        target = target[key]
    if isinstance(target, dict) and target:
        target[draw(st.sampled_from(list(target)))] = draw(json_values)
    return payload


def check_one_alert_or_invalid_input(payload: Any) -> None:
    before = repr(payload)
    try:
        alerts = ADAPTER.parse(payload, NOW, {"model": "m", "slice": "language=de"})
    except InvalidInput as exc:
        assert exc.fields
    else:
        (alert,) = alerts
        assert alert.group_key == "evidently:m|language=de"
        assert alert.starts_at <= NOW and alert.starts_at.utcoffset() == timedelta(0)
    assert repr(payload) == before


@given(json_values)
def test_any_json_yields_one_alert_or_invalid_input(payload):
    check_one_alert_or_invalid_input(payload)


@given(mutated_reports())
def test_mutated_reports_yield_one_alert_or_invalid_input(payload):
    check_one_alert_or_invalid_input(payload)
