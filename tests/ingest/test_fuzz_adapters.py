"""Every adapter's parser on mutated real payloads: each input yields alerts or a clear
input error (400/422 class), never an unhandled exception (issue 13). Hypothesis replaces,
deletes and retypes parts of recorded payloads — the shapes senders actually send, bent."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents.domain.alert import Alert
from incidents.errors import InvalidInput, MalformedPayload
from incidents.ingest.registry import ADAPTERS
from tests.payloads import load

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
SEEDS = {
    "alertmanager": ["alertmanager/webhook_v4_firing_two_alerts.json",
                     "alertmanager/webhook_v4_firing_one_resolved_one_firing.json"],
    "grafana": ["grafana/webhook_firing_values_v11_zulip.json",
                "grafana/legacy_dashboard_alerting_ok_zulip.json"],
    "pagerduty": ["pagerduty/webhook_v3_incident_triggered_zulip.json",
                  "pagerduty/webhook_v3_incident_acknowledged_zulip.json"],
    "events-v2": ["pagerduty/events_v2_trigger_request_python_pagerduty_7.2.0.json",
                  "pagerduty/events_v2_resolve_request_docs.json"],
    "ml": ["ml/chatbot_slice_satisfaction_firing.json", "ml/loan_default_drift_resolved.json"],
    "evidently": ["evidently/report_v2_datadrift_preset_with_tests.json",
                  "evidently/legacy_test_suite_data_drift_preset.json"],
}  # fmt: skip
CLEAR_ERRORS = (InvalidInput, MalformedPayload)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False), st.text(max_size=40),
    st.sampled_from(["", "0001-01-01T00:00:00Z", "2026-13-45T99:99:99Z", "firing", "resolved",
                     "critical", "\x00", "\ud800x", "9" * 400]),
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path of every node in a JSON value."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, source: str) -> Any:
    """Draw a recorded payload with a few nodes replaced, deleted or retyped."""
    payload = copy.deepcopy(load(draw(st.sampled_from(SEEDS[source]))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(payload) if p]
        if not paths:
            return draw(json_value)
        path = draw(st.sampled_from(paths))
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_value)
    return payload


@pytest.mark.parametrize("source", sorted(SEEDS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_payloads_give_alerts_or_a_clear_error(source: str, data: st.DataObject) -> None:
    payload = data.draw(mutated(source))
    try:
        alerts = ADAPTERS[source].parse(payload, NOW, {})
    except CLEAR_ERRORS as error:
        assert error.message and "\n" not in error.message
        return
    assert isinstance(alerts, list) and all(isinstance(a, Alert) for a in alerts)


@pytest.mark.parametrize("source", sorted(SEEDS))
@settings(max_examples=60, deadline=None)
@given(payload=json_value)
def test_arbitrary_json_gives_alerts_or_a_clear_error(source: str, payload: Any) -> None:
    try:
        ADAPTERS[source].parse(payload, NOW, {})
    except CLEAR_ERRORS as error:
        assert str(error).strip(), "a refusal must say why"
