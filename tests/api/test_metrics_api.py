"""GET /api/metrics and `incidents metrics`: grouping, periods, filters, trends, definitions."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import Session
from typer.testing import CliRunner

from incidents.cli import app
from incidents.store.models import Incident

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def seed(engine, *, count: int, detected: datetime, severity: str, mitigate_minutes: float,
         model: str = "loan-default") -> None:  # fmt: skip
    rows = [
        {
            "title": "t", "status": "resolved", "severity": severity, "model": model,
            "source": "ml", "impact_started_source": "source",
            "impact_started_at": detected + timedelta(hours=i) - timedelta(minutes=5),
            "detected_at": detected + timedelta(hours=i),
            "reported_at": detected + timedelta(hours=i),
            "acknowledged_at": detected + timedelta(hours=i, minutes=2),
            "mitigated_at": detected + timedelta(hours=i, minutes=mitigate_minutes + i % 3),
            "resolved_at": detected + timedelta(hours=i, minutes=90),
            "created_at": detected, "updated_at": detected,
        }
        for i in range(count)
    ]  # fmt: skip
    with Session(engine) as session:
        session.execute(insert(Incident), rows)
        session.commit()


@pytest.fixture
def quarters(engine):
    """SEV1s on loan-default: 25 last-but-one quarter (slow), 30 last quarter (fast)."""
    seed(engine, count=25, detected=datetime(2026, 4, 10, tzinfo=UTC), severity="SEV1",
         mitigate_minutes=60)  # fmt: skip
    seed(engine, count=30, detected=datetime(2026, 7, 10, tzinfo=UTC), severity="SEV1",
         mitigate_minutes=20)  # fmt: skip
    seed(engine, count=4, detected=datetime(2026, 7, 12, tzinfo=UTC), severity="SEV3",
         mitigate_minutes=5, model="recsys")  # fmt: skip


def test_did_sev1s_on_loan_default_get_better_last_quarter(client, quarters):
    response = client.get(
        "/api/metrics",
        params={"since": "2026-04-01", "until": "2026-10-01", "severity": "sev1",
                "model": "loan-default", "group_by": "quarter", "trend": "true"},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert set(body["definitions"]) >= {"time_to_detect", "time_to_mitigate", "median", "p90"}
    q2, q3 = body["groups"]
    assert q2["key"] == {"quarter": "2026-Q2"} and q3["key"] == {"quarter": "2026-Q3"}
    assert q3["period"] == {"start": "2026-07-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"}
    assert q3["incidents"] == 30 and q3["open"] == 0
    mitigate = q3["time_to_mitigate"]
    assert mitigate["n"] == 30
    assert mitigate["median"] == 26 * 60.0  # 5 min before detection + 20..22 min
    assert mitigate["median_ci"]["coverage"] >= 0.95
    assert q3["time_to_detect"]["median"] == 300.0
    assert q3["trend"]["time_to_mitigate"]["direction"] == "improved"
    assert q3["trend"]["time_to_detect"]["direction"] == "insufficient evidence"
    assert q2["trend"]["time_to_mitigate"]["direction"] == "insufficient evidence"


def test_whole_window_trend_compares_with_the_window_before(client, quarters):
    response = client.get(
        "/api/metrics",
        params={"since": "2026-07-01", "until": "2026-10-01", "severity": "SEV1", "trend": "true"},
    )
    (group,) = response.json()["groups"]
    assert group["key"] == {}
    assert group["trend"]["time_to_mitigate"]["n_previous"] == 25


def test_grouping_by_severity_and_month_with_small_groups(client, quarters):
    body = client.get("/api/metrics", params={"since": "2026-07-01", "until": "2026-08-01",
                                              "group_by": "severity,month"}).json()  # fmt: skip
    keys = [group["key"] for group in body["groups"]]
    assert keys == [
        {"severity": "SEV1", "month": "2026-07"},
        {"severity": "SEV3", "month": "2026-07"},
    ]
    small = body["groups"][1]["time_to_mitigate"]
    assert small["n"] == 4 and small["note"] == "insufficient data" and small["median_ci"] is None


def test_default_window_is_the_last_90_days(client, clock):
    body = client.get("/api/metrics").json()
    assert body["until"] == "2026-11-25T09:00:00Z"
    assert body["since"] == "2026-08-27T09:00:00Z"
    assert body["groups"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "team"}, "group_by"),
        ({"group_by": "week,month"}, "group_by"),
        ({"since": "soon"}, "since"),
        ({"since": "2026-11-01", "until": "2026-10-01"}, "since"),
        ({"severity": "SEV9"}, "severity"),
        ({"slice": "german"}, "slice"),
    ],
)
def test_bad_parameters_are_422_naming_them(client, params, field):
    response = client.get("/api/metrics", params=params)
    assert response.status_code == 422
    assert field in response.json()["fields"]


runner = CliRunner()


def test_cli_metrics_in_three_formats(database_url, engine, quarters):
    env = {"INCIDENTS_DATABASE_URL": database_url, "COLUMNS": "160"}
    args = ["metrics", "--since", "2026-07-01", "--until", "2026-10-01", "--by", "severity"]
    table = runner.invoke(app, args, env=env)
    assert table.exit_code == 0, table.output
    assert "SEV1" in table.output and "26m (n=30)" in table.output
    assert "insufficient data" in table.output
    as_json = runner.invoke(app, [*args, "--format", "json"], env=env)
    groups = json.loads(as_json.output)["groups"]
    assert [g["key"]["severity"] for g in groups] == ["SEV1", "SEV3"]
    as_csv = runner.invoke(app, [*args, "--format", "csv"], env=env)
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert len(rows) == 8
    assert {row["metric"] for row in rows} == {"time_to_detect", "time_to_acknowledge",
                                                "time_to_mitigate", "time_to_resolve"}  # fmt: skip
    bad = runner.invoke(app, ["metrics", "--by", "team"], env=env)
    assert bad.exit_code == 1 and bad.output.startswith("error: cannot group by team")
