"""Schemathesis against our own OpenAPI (issue 13): every operation, generated requests with
the API token — no 5xx, and every response matches the documented schema. Every run (CI
included) generates INCIDENTS_FUZZ_EXAMPLES cases per operation (default 200, about 50 s on
SQLite); raise it for a slow, deeper run, e.g. INCIDENTS_FUZZ_EXAMPLES=2000."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.store.db import build_engine
from tests.fakes import FrozenClock

TOKEN = "fuzz-api-token-0a1b2c"
EXAMPLES = int(os.environ.get("INCIDENTS_FUZZ_EXAMPLES", "200"))
# What the issue asks: no 5xx, and responses (status and body) as documented. Schemathesis's
# "schema-valid data must be accepted" is left out on purpose: a string the schema allows is
# still refused (422, naming the field) when it is not a time or a known status.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# On-call asks PagerDuty, which this test does not configure: its documented answer is 503
# "not configured" (a 5xx by meaning); the status and body are still checked.
DOCUMENTED_5XX = {"GET /api/oncall"}


def _schema(app: Any) -> Any:
    """Load the app's own OpenAPI document."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _labels() -> list[str]:
    """Return every documented operation ("POST /api/incidents", …)."""
    engine = build_engine("sqlite://")
    app = create_app(Settings(database_url="sqlite://"), engine=engine, run_worker=False)
    labels = [result.ok().label for result in _schema(app).get_all_operations()]
    engine.dispose()
    return labels


@pytest.mark.parametrize("label", _labels())
def test_every_operation_answers_without_5xx_and_as_documented(label, database_url, engine):
    settings_ = Settings(database_url=database_url, api_token=TOKEN)
    app = create_app(settings_, engine=engine, clock=FrozenClock(), run_worker=False)
    operation = next(r.ok() for r in _schema(app).get_all_operations() if r.ok().label == label)

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)  # fmt: skip
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        checks = CHECKS[1:] if label in DOCUMENTED_5XX else CHECKS
        response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"},
                                          checks=checks)  # fmt: skip
        if label in DOCUMENTED_5XX:
            assert response.status_code in (200, 404, 422, 503)

    check()
