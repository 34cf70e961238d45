"""Evidently reports and test suites pushed by a monitoring job (wire-formats §5, DESIGN §9).

Evidently sends nothing by itself, so a job POSTs the JSON of a run and names the subject in
the query: ``?model=`` (required), ``&version=``, ``&slice=language=de,region=eu`` and
``&severity=`` (default SEV3). Accepted bodies: the 0.7 Report snapshot (``metrics`` with
``metric_name``/``config``/``value``, optional ``tests``), and the legacy 0.4-style Report
(``metrics`` with ``metric``/``result``) and TestSuite (``tests`` with ``parameters``).

A run becomes exactly ONE alert per model+slice (group key = fingerprint =
``evidently:<model>|<slice key>``), so a drift storm over forty features is one incident with
the features in its annotations. It fires when a test fails, or when Evidently's own
dataset-drift verdict (drifted share ≥ ``drift_share``) holds and no test covers it;
otherwise it resolves the group. Test statuses, decided here:

- ``FAIL`` fires; ``ERROR`` fires too: the check could not run, and a broken check must not
  look healthy and auto-resolve an open drift incident;
- ``WARNING`` (a non-critical test that failed) and ``SKIPPED`` do not fire.

Authentication: the webhook token as bearer or basic-auth password.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from incidents.config import Settings
from incidents.domain.alert import SLICE_LABEL_PREFIX, Alert, AlertStatus
from incidents.domain.refs import slice_key
from incidents.domain.severity import Severity, parse_severity
from incidents.errors import InvalidInput
from incidents.ingest import Adapter, Headers, printable_key
from incidents.ingest.auth import require_token

SOURCE = "evidently"
SIGNAL = "data_drift"
DEFAULT_SEVERITY = Severity.SEV3
DEFAULT_DRIFT_SHARE = 0.5  # the 0.7 DataDriftPreset's default
# Test status → whether it fires the alert (see the module docstring for ERROR).
TEST_FIRES: dict[str, bool] = {
    "SUCCESS": False,
    "FAIL": True,
    "WARNING": False,
    "ERROR": True,
    "SKIPPED": False,
}
# Test status → whether the column the test checks drifted; others say nothing about it.
TEST_DETECTED: dict[str, bool] = {"FAIL": True, "WARNING": True, "SUCCESS": False}
STATUS_BY_FIRING: dict[bool, AlertStatus] = {True: AlertStatus.FIRING, False: AlertStatus.RESOLVED}
# (firing, drift seen) → title headline.
HEADLINES: dict[tuple[bool, bool], str] = {
    (True, True): "Data drift",
    (True, False): "Evidently tests failing",
    (False, True): "Data drift within tolerance",
    (False, False): "No data drift",
}
# Legacy TestSuite share-test conditions that carry the drift-share limit.
SHARE_CONDITIONS: tuple[str, ...] = ("lt", "lte")
SHAPES = (
    "expected an Evidently 0.7 Report snapshot "
    '{"metrics": [{"metric_name", "config", "value"}], "tests"?}, a legacy Report '
    '{"metrics": [{"metric", "result"}]} or a legacy TestSuite {"tests": [{"name", "status", '
    '"parameters"}]}'
)


@dataclass(frozen=True, slots=True)
class Column:
    """One column's drift result."""

    name: str
    drifted: bool
    score: float | None = None
    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One Evidently test result."""

    name: str
    status: str
    metric_id: str | None = None


@dataclass(slots=True)
class Findings:
    """What one run says, gathered from whichever shape was sent (filled while reading)."""

    checks: list[Check] = field(default_factory=list)
    columns: dict[str, Column] = field(default_factory=dict)
    count: int | None = None
    total: int | None = None
    share: float | None = None
    drift_share: float | None = None
    untested_drift: bool | None = None  # the dataset verdict when no test covers it


@dataclass(frozen=True, slots=True)
class Subject:
    """The model and slice a pushed run is about, from the query parameters."""

    model: str
    version: str | None
    slice: dict[str, str]
    severity: Severity


MetricReader = Callable[[Mapping[str, Any], str, Findings], None]


def verify(headers: Headers, _body: bytes, settings: Settings, _now: datetime) -> None:
    """Require the webhook token (bearer or basic-auth password)."""
    require_token(headers, settings.webhook_token)


def parse(payload: Any, received_at: datetime, params: Mapping[str, str]) -> list[Alert]:
    """Turn one pushed run into exactly one alert for its model and slice."""
    subject = _subject(params)
    if not isinstance(payload, Mapping):
        raise InvalidInput(f"body: {SHAPES}", fields=["body"])
    if payload.get("metrics") is None and payload.get("tests") is None:
        raise InvalidInput(f"body: {SHAPES}", fields=["body"])
    findings = Findings(checks=_checks(payload.get("tests")))
    _read_metrics(payload.get("metrics"), findings)
    _read_suite_columns(payload.get("tests"), findings)
    if _says_nothing(findings):
        message = f"body: no data-drift metric or test found; {SHAPES}"
        raise InvalidInput(message, fields=["body"])
    stamped = _report_time(payload.get("timestamp"))
    starts_at = min(stamped, received_at) if stamped else received_at
    return [_alert(subject, findings, starts_at=starts_at, received_at=received_at)]


def _says_nothing(findings: Findings) -> bool:
    """True when a run holds no drift metric or test: resolving on it would be a guess."""
    empty = not (findings.checks or findings.columns)
    return empty and findings.count is None and findings.untested_drift is None


# --- the subject, from query parameters ---------------------------------------------------


def _subject(params: Mapping[str, str]) -> Subject:
    """Read ?model=&version=&slice=&severity=; the body does not name the model."""
    model = str(params.get("model") or "").strip()
    if not model:
        raise InvalidInput(
            "model: required; add ?model=<model name> to the webhook URL "
            "(optionally &version=<v>&slice=language=de,region=eu)",
            fields=["model"],
        )
    severity = params.get("severity")
    return Subject(
        model=model,
        version=str(params.get("version") or "").strip() or None,
        slice=_parse_slice(str(params.get("slice") or "")),
        severity=parse_severity(str(severity)) if severity else DEFAULT_SEVERITY,
    )


def _parse_slice(text: str) -> dict[str, str]:
    """Read ``language=de,region=eu`` into a slice; empty means the global slice."""
    result: dict[str, str] = {}
    for part in text.split(",") if text.strip() else ():
        name, equals, value = (piece.strip() for piece in part.partition("="))
        if not (name and equals and value) or name in result:
            raise InvalidInput(
                f"slice: {text!r} is not a list of distinct dimension=value pairs "
                "(e.g. slice=language=de,region=eu)",
                fields=["slice"],
            )
        result[name] = value
    return result


# --- tests --------------------------------------------------------------------------------


def _checks(tests: Any) -> list[Check]:
    """Read ``tests`` (0.7 and legacy alike) into checks."""
    if tests is None:
        return []
    if not isinstance(tests, list):
        raise InvalidInput("tests: expected a list", fields=["tests"])
    return [_check(item, f"tests[{index}]") for index, item in enumerate(tests)]


def _check(item: Any, where: str) -> Check:
    """Read one test; legacy per-column tests share one name, so the column is appended."""
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: expected an object", fields=[where])
    status = item.get("status")
    if not isinstance(status, str) or status.upper() not in TEST_FIRES:
        name = f"{where}.status"
        raise InvalidInput(f"{name}: must be one of {', '.join(TEST_FIRES)}", fields=[name])
    name = _text(item.get("name"), f"{where}.name") or where
    column = _text(_get(item.get("parameters"), "column_name"), f"{where}.parameters.column_name")
    if column and column not in name:
        name = f"{name} ({column})"
    metric_id = _get(item.get("metric_config"), "metric_id")
    return Check(name, status.upper(), metric_id if isinstance(metric_id, str) else None)


def _read_suite_columns(tests: Any, findings: Findings) -> None:
    """Take per-column results from legacy TestSuite parameters (already-validated tests)."""
    for index, item in enumerate(tests if isinstance(tests, list) else ()):
        where = f"tests[{index}].parameters"
        parameters = item.get("parameters")
        if not isinstance(parameters, Mapping):
            continue
        if isinstance(parameters.get("column_name"), str):
            _add_column(findings, parameters["column_name"], parameters, where, _SUITE_KEYS)
        if parameters.get("features") is not None:
            _suite_share_test(parameters, where, findings)


def _suite_share_test(parameters: Mapping[str, Any], where: str, findings: Findings) -> None:
    """Read the legacy "Share of Drifted Columns" test: per-feature results and its limit."""
    features = _mapping(parameters.get("features"), f"{where}.features")
    for name, result in features.items():
        result_where = f"{where}.features.{printable_key(name)}"
        _add_column(findings, str(name), _mapping(result, result_where), result_where, _SUITE_KEYS)
    condition = _get(parameters.get("condition"), SHARE_CONDITIONS)
    limit = _number(condition, f"{where}.condition")
    findings.drift_share = findings.drift_share if limit is None else limit


# --- metrics ------------------------------------------------------------------------------


def _read_metrics(metrics: Any, findings: Findings) -> None:
    """Dispatch each metric to its reader by kind; other metrics are ignored."""
    if metrics is None:
        return
    if not isinstance(metrics, list):
        raise InvalidInput("metrics: expected a list", fields=["metrics"])
    for index, item in enumerate(metrics):
        where = f"metrics[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{where}: expected an object", fields=[where])
        kind = item.get("metric") or _get(item.get("config"), "type")
        reader = METRIC_READERS.get(kind) if isinstance(kind, str) else None
        if reader is not None:
            reader(item, where, findings)


def _legacy_summary(item: Mapping[str, Any], where: str, findings: Findings) -> None:
    """Read DatasetDriftMetric (legacy): Evidently's own dataset-drift verdict and counts."""
    result = _mapping(item.get("result"), f"{where}.result")
    at = f"{where}.result."
    count = _count(result.get("number_of_drifted_columns"), at + "number_of_drifted_columns")
    total = _count(result.get("number_of_columns"), at + "number_of_columns")
    share = _number(result.get("share_of_drifted_columns"), at + "share_of_drifted_columns")
    limit = _number(result.get("drift_share"), at + "drift_share")
    verdict = result.get("dataset_drift")
    if verdict is None and share is not None and limit is not None:
        verdict = share >= limit  # Evidently's rule, for results that omit the verdict
    if verdict is not None and not isinstance(verdict, bool):
        raise InvalidInput(
            f"{at}dataset_drift: expected true or false", fields=[at + "dataset_drift"]
        )
    findings.count = count if count is not None else findings.count
    findings.total = total if total is not None else findings.total
    findings.share = share if share is not None else findings.share
    findings.drift_share = limit if limit is not None else findings.drift_share
    if verdict is not None:
        findings.untested_drift = verdict or bool(findings.untested_drift)


def _legacy_table(item: Mapping[str, Any], where: str, findings: Findings) -> None:
    """Read DataDriftTable (legacy): the summary plus ``drift_by_columns``."""
    _legacy_summary(item, where, findings)
    columns_where = f"{where}.result.drift_by_columns"
    columns = _mapping(_get(item.get("result"), "drift_by_columns"), columns_where)
    for name, result in columns.items():
        column_where = f"{columns_where}.{printable_key(name)}"
        _add_column(findings, str(name), _mapping(result, column_where), column_where, _TABLE_KEYS)


def _drifted_columns_count(item: Mapping[str, Any], where: str, findings: Findings) -> None:
    """Read DriftedColumnsCount (0.7); its test, when present, decides instead of the share."""
    value = _mapping(item.get("value"), f"{where}.value")
    findings.count = _count(value.get("count"), f"{where}.value.count")
    findings.share = _number(value.get("share"), f"{where}.value.share")
    limit = _number(_get(item.get("config"), "drift_share"), f"{where}.config.drift_share")
    findings.drift_share = DEFAULT_DRIFT_SHARE if limit is None else limit
    if not _bound_statuses(item, findings) and findings.share is not None:
        findings.untested_drift = findings.share >= findings.drift_share


def _value_drift(item: Mapping[str, Any], where: str, findings: Findings) -> None:
    """Read ValueDrift (0.7): one column's score; its test's status says whether it drifted."""
    config = _mapping(item.get("config"), f"{where}.config")
    name = _text(config.get("column"), f"{where}.config.column")
    if not name:
        raise InvalidInput(f"{where}.config.column: required", fields=[f"{where}.config.column"])
    score = _number(item.get("value"), f"{where}.value")
    method = _text(config.get("method"), f"{where}.config.method")
    threshold = _number(config.get("threshold"), f"{where}.config.threshold")
    verdicts = [TEST_DETECTED[s] for s in _bound_statuses(item, findings) if s in TEST_DETECTED]
    detected = any(verdicts) if verdicts else _derived_drift(score, method, threshold)
    findings.columns[name] = Column(name, detected, score, method, threshold)


def _bound_statuses(item: Mapping[str, Any], findings: Findings) -> list[str]:
    """Return the statuses of the tests bound to this metric by ``metric_config.metric_id``."""
    metric_id = item.get("id")
    if not isinstance(metric_id, str):
        return []
    return [check.status for check in findings.checks if check.metric_id == metric_id]


def _derived_drift(score: float | None, method: str | None, threshold: float | None) -> bool:
    """Without a test: p-value methods drift below the threshold, distances at or above it."""
    if score is None or threshold is None:
        return False
    return score < threshold if "p_value" in (method or "") else score >= threshold


# Metric kind (legacy ``metric`` or 0.7 ``config.type``) → reader.
METRIC_READERS: dict[str, MetricReader] = {
    "DatasetDriftMetric": _legacy_summary,
    "DataDriftTable": _legacy_table,
    "evidently:metric_v2:DriftedColumnsCount": _drifted_columns_count,
    "evidently:metric_v2:ValueDrift": _value_drift,
}
# (detected, score, method, threshold) key names of a per-column result, by shape.
_SUITE_KEYS = ("detected", "score", "stattest", "threshold")
_TABLE_KEYS = ("drift_detected", "drift_score", "stattest_name", "stattest_threshold")


def _add_column(
    findings: Findings,
    name: str,
    result: Mapping[str, Any],
    where: str,
    keys: tuple[str, str, str, str],
) -> None:
    """Record one legacy per-column result, whose keys differ between Report and TestSuite."""
    detected_key, score_key, method_key, threshold_key = keys
    detected = result.get(detected_key)
    if not isinstance(detected, bool):
        name_where = f"{where}.{detected_key}"
        raise InvalidInput(f"{name_where}: required, true or false", fields=[name_where])
    findings.columns[name] = Column(
        name=name,
        drifted=detected,
        score=_number(result.get(score_key), f"{where}.{score_key}"),
        method=_text(result.get(method_key), f"{where}.{method_key}"),
        threshold=_number(result.get(threshold_key), f"{where}.{threshold_key}"),
    )


# --- the alert ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    """The numbers a title and the annotations show."""

    drifted: list[str]
    failed: list[str]
    tests: int
    count: int
    total: int | None
    share: float | None
    drift_share: float | None


def _tally(findings: Findings) -> Tally:
    """Prefer Evidently's own counts; derive them from the columns when absent."""
    drifted = [column.name for column in findings.columns.values() if column.drifted]
    count = findings.count if findings.count is not None else len(drifted)
    total = findings.total if findings.total is not None else (len(findings.columns) or None)
    share = findings.share
    if share is None and total:
        share = count / total
    failed = [_failed_name(check) for check in findings.checks if TEST_FIRES[check.status]]
    return Tally(drifted, failed, len(findings.checks), count, total, share, findings.drift_share)


def _failed_name(check: Check) -> str:
    """Name a failing test, marking those that errored rather than failed."""
    return check.name if check.status == "FAIL" else f"{check.name} [{check.status}]"


def _alert(
    subject: Subject, findings: Findings, *, starts_at: datetime, received_at: datetime
) -> Alert:
    """Build the one alert of this run."""
    tally = _tally(findings)
    firing = bool(findings.untested_drift) or bool(tally.failed)
    key = f"{SOURCE}:{subject.model}|{slice_key(subject.slice) or ''}"
    return Alert(
        source=SOURCE,
        fingerprint=key,
        group_key=key,
        status=STATUS_BY_FIRING[firing],
        severity=subject.severity,
        title=_title(subject, tally, firing=firing),
        summary=_summary(tally),
        labels=_labels(subject),
        annotations=_annotations(findings, tally),
        starts_at=starts_at,
        ends_at=None if firing else received_at,
        service=None,
        model=subject.model,
        model_version=subject.version,
        slice=subject.slice or None,
    )


def _title(subject: Subject, tally: Tally, *, firing: bool) -> str:
    """Headline plus numbers, e.g. ``Data drift on m: 2 of 3 columns drifted (share …)``."""
    seen = bool(tally.count or tally.drifted)
    where = f" ({slice_key(subject.slice)})" if subject.slice else ""
    about_columns = tally.total is not None or tally.share is not None or seen
    detail = _tests_detail(tally) if firing and not seen or not about_columns else None
    return (
        f"{HEADLINES[(firing, seen)]} on {subject.model}{where}: {detail or _drift_detail(tally)}"
    )


def _drift_detail(tally: Tally) -> str:
    """Say how many columns drifted against the dataset-drift limit."""
    detail = f"{tally.count} of {tally.total} columns drifted"
    if tally.total is None:
        detail = f"{tally.count} column(s) drifted"
    if tally.share is None:
        return detail
    if tally.drift_share is None:
        return f"{detail} (share {tally.share:.2f})"
    sign = "≥" if tally.share >= tally.drift_share else "<"
    return f"{detail} (share {tally.share:.2f} {sign} {tally.drift_share:.2f})"


def _tests_detail(tally: Tally) -> str:
    """Say how many tests failed, for runs whose trouble is not drifted columns."""
    return f"{len(tally.failed)} of {tally.tests} tests failing"


def _summary(tally: Tally) -> str:
    """One line for people: which columns drifted and which tests failed."""
    columns = ", ".join(tally.drifted) or "none"
    tests = "; ".join(tally.failed) or "none"
    return f"Drifted columns: {columns}. Failing tests: {tests}."


def _labels(subject: Subject) -> dict[str, str]:
    """Expose the subject as labels, which runbooks match on."""
    labels = {"model": subject.model, "signal": SIGNAL}
    if subject.version:
        labels["model_version"] = subject.version
    labels |= {SLICE_LABEL_PREFIX + dim: value for dim, value in subject.slice.items()}
    return labels


def _annotations(findings: Findings, tally: Tally) -> dict[str, str]:
    """Keep the details compact: names, numbers, per-column scores, test status counts."""
    statuses = Counter(check.status for check in findings.checks)
    annotations = {
        "drifted_columns": ", ".join(tally.drifted),
        "failed_tests": "; ".join(tally.failed),
        "drifted_count": str(tally.count),
        "columns": "" if tally.total is None else str(tally.total),
        "drifted_share": "" if tally.share is None else f"{tally.share:.4g}",
        "drift_share": "" if tally.drift_share is None else f"{tally.drift_share:g}",
        "column_scores": "; ".join(_score(column) for column in findings.columns.values()),
        "tests": ", ".join(f"{status}={n}" for status, n in statuses.items()),
    }
    return {name: value for name, value in annotations.items() if value}


def _score(column: Column) -> str:
    """Write one column as ``age=4.87e-10 (K-S p_value, threshold 0.05, drifted)``."""
    score = "?" if column.score is None else f"{column.score:.3g}"
    details = [column.method or "?"]
    if column.threshold is not None:
        details.append(f"threshold {column.threshold:g}")
    if column.drifted:
        details.append("drifted")
    return f"{column.name}={score} ({', '.join(details)})"


# --- small readers ------------------------------------------------------------------------


def _report_time(value: Any) -> datetime | None:
    """Read the run's ``timestamp`` as aware UTC."""
    if value is None or value == "":
        return None
    problem = InvalidInput("timestamp: expected an ISO 8601 time", fields=["timestamp"])
    if not isinstance(value, str):
        raise problem
    try:
        parsed = datetime.fromisoformat(value.strip())
        # Legacy Evidently writes str(datetime) of the run with no offset (usually the job
        # host's local clock); we treat it as UTC. ``parse`` clamps it to the receipt time,
        # so a host east of UTC cannot put a detection in the future.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise problem from None


def _get(value: Any, keys: str | tuple[str, ...]) -> Any:
    """Return the first present key of a mapping, or None for anything that is not one."""
    if not isinstance(value, Mapping):
        return None
    names = (keys,) if isinstance(keys, str) else keys
    return next((value[name] for name in names if value.get(name) is not None), None)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    """Require an object."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: expected an object", fields=[where])
    return value


def _text(value: Any, where: str) -> str | None:
    """Read an optional string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: expected a string", fields=[where])
    return value.strip() or None


def _number(value: Any, where: str) -> float | None:
    """Read an optional number; NaN is kept, since Evidently writes it for empty data."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: expected a number", fields=[where])
    try:
        return float(value)
    except OverflowError:
        raise InvalidInput(f"{where}: number out of range", fields=[where]) from None


def _count(value: Any, where: str) -> int | None:
    """Read an optional count; 0.7 writes counts as floats (``2.0``)."""
    number = _number(value, where)
    if number is None:
        return None
    if not math.isfinite(number) or number < 0:
        raise InvalidInput(f"{where}: expected a non-negative count", fields=[where])
    return round(number)


ADAPTER = Adapter(source=SOURCE, verify=verify, parse=parse)
