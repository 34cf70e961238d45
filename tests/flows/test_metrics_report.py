"""The SQL-backed MTTx report equals a brute-force Python reference on random incident sets,
on whichever database the suite runs on (SQLite, and PostgreSQL in CI)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlmodel import Session

from incidents.flows.metrics import MetricsQuery, report
from incidents.store.models import Incident

WINDOW_START = datetime(2026, 9, 20, tzinfo=UTC)  # spans month, quarter and week boundaries
SINCE, UNTIL = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
GROUPINGS = [[], ["severity"], ["month"], ["severity", "quarter"], ["service", "week"],
             ["slice", "source"], ["model", "month"]]  # fmt: skip


def ms(draw_value: int) -> timedelta:
    return timedelta(milliseconds=draw_value)


@st.composite
def incidents(draw: st.DrawFn) -> dict[str, Any]:
    detected = WINDOW_START + ms(draw(st.integers(0, 40 * 86_400_000)))
    defaulted = draw(st.booleans())
    impact = detected if defaulted else detected - ms(draw(st.integers(0, 7_200_000)))
    acked = draw(st.none() | st.integers(0, 3_600_000))
    mitigated = draw(st.none() | st.integers(0, 20_000_000))
    resolved = draw(st.none() | st.integers(0, 20_000_000)) if mitigated is not None else None
    mitigated_at = None if mitigated is None else impact + ms(mitigated)
    resolved_at = None if resolved is None or mitigated_at is None else mitigated_at + ms(resolved)
    status = "resolved" if resolved_at else ("mitigated" if mitigated_at else "triggered")
    slice_key = draw(st.sampled_from([None, "language=de", "language=es"]))
    return {
        "title": "t", "status": status, "severity": draw(st.sampled_from(["SEV1", "SEV2"])),
        "service": draw(st.sampled_from(["api", "web", None])),
        "model": draw(st.sampled_from(["recsys", None])), "slice_key": slice_key,
        "slice": None if slice_key is None else {"language": slice_key[-2:]},
        "source": draw(st.sampled_from(["alertmanager", "manual"])),
        "impact_started_source": "defaulted" if defaulted else "human",
        "impact_started_at": impact, "detected_at": detected, "reported_at": detected,
        "acknowledged_at": None if acked is None else detected + ms(acked),
        "mitigated_at": mitigated_at, "resolved_at": resolved_at,
        "created_at": detected, "updated_at": detected,
    }  # fmt: skip


def label(name: str, row: dict[str, Any]) -> str | None:
    detected: datetime = row["detected_at"]
    if name == "month":
        return f"{detected:%Y-%m}"
    if name == "quarter":
        return f"{detected.year}-Q{(detected.month + 2) // 3}"
    if name == "week":
        return f"{(detected - timedelta(days=detected.weekday())):%Y-%m-%d}"
    value: str | None = row["slice_key" if name == "slice" else name]
    return value


def reference(
    rows: list[dict[str, Any]], group_by: list[str]
) -> dict[tuple[str | None, ...], dict[str, Any]]:
    """Brute force: group rows in Python and collect each metric's values and exclusions."""
    spans = {
        "time_to_detect": ("impact_started_at", "detected_at"),
        "time_to_acknowledge": ("detected_at", "acknowledged_at"),
        "time_to_mitigate": ("impact_started_at", "mitigated_at"),
        "time_to_resolve": ("impact_started_at", "resolved_at"),
    }
    groups: dict[tuple[str | None, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(label(name, row) for name in group_by)
        group = groups.setdefault(key, {"incidents": 0, "open": 0, **{m: ([], {}) for m in spans}})
        group["incidents"] += 1
        resolved = row["status"] == "resolved"
        group["open"] += 0 if resolved else 1
        for metric, (start, end) in spans.items():
            values, excluded = group[metric]
            if metric == "time_to_detect" and row["impact_started_source"] == "defaulted":
                excluded["impact start defaulted"] = excluded.get("impact start defaulted", 0) + 1
            elif row[end] is None:
                word = end.removesuffix("_at")
                reason = f"never {word}" if resolved else f"not yet {word}"
                excluded[reason] = excluded.get(reason, 0) + 1
            else:
                values.append(round((row[end] - row[start]).total_seconds(), 3))
    return groups


def check(summary: Any, values: list[float], excluded: dict[str, int]) -> None:
    values = sorted(values)
    n = len(values)
    assert summary.n == n
    assert summary.excluded == excluded
    if n == 0:
        assert summary.median is None
        return
    tol = 2e-3
    assert summary.median == pytest.approx((values[(n - 1) // 2] + values[n // 2]) / 2, abs=tol)
    assert summary.p90 == pytest.approx(values[math.ceil(0.9 * n) - 1], abs=tol)
    assert summary.mean == pytest.approx(sum(values) / n, rel=1e-9, abs=2e-3)
    assert (summary.min, summary.max) == (pytest.approx(values[0], abs=tol),
                                          pytest.approx(values[-1], abs=tol))  # fmt: skip
    assert (summary.median_ci is None) == (n < 6)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(incidents(), max_size=30), group_by=st.sampled_from(GROUPINGS))
def test_report_matches_brute_force(engine, rows, group_by):
    with Session(engine) as session:
        session.execute(delete(Incident))
        if rows:
            session.execute(insert(Incident), rows)
        session.commit()
        result = report(MetricsQuery(since=SINCE, until=UNTIL, group_by=group_by), session=session)
    expected = reference(rows, group_by)
    found = {tuple(group.key[name] for name in group_by): group for group in result.groups}
    assert set(found) == set(expected)
    for key, group in found.items():
        assert group.incidents == expected[key]["incidents"]
        assert group.open == expected[key]["open"]
        for metric, summary in group.summaries.items():
            check(summary, *expected[key][metric])


def test_window_and_filters_select_incidents(engine):
    row = {
        "title": "t", "status": "resolved", "severity": "SEV1", "model": "recsys",
        "source": "manual", "impact_started_source": "defaulted",
        "impact_started_at": WINDOW_START, "detected_at": WINDOW_START,
        "reported_at": WINDOW_START, "mitigated_at": WINDOW_START + timedelta(minutes=5),
        "resolved_at": WINDOW_START + timedelta(minutes=9), "created_at": WINDOW_START,
        "updated_at": WINDOW_START,
    }  # fmt: skip
    rows = [row] * 3
    with Session(engine) as session:
        session.execute(insert(Incident), rows)
        session.commit()
        query = MetricsQuery(since=SINCE, until=UNTIL, filters={"severity": ["SEV1"],
                                                                 "model": ["recsys"]})  # fmt: skip
        assert report(query, session=session).groups[0].incidents == 3
        none = MetricsQuery(since=SINCE, until=UNTIL, filters={"severity": ["SEV4"]})
        assert report(none, session=session).groups == []
        later = MetricsQuery(since=WINDOW_START + timedelta(seconds=1), until=UNTIL)
        assert report(later, session=session).groups == []
