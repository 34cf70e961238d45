"""The chart builders on hand-made inputs: one mark per datum, ordered axes, empty input,
escaped text, well-formed and accessible SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from incidents.web.charts import (
    Bin,
    BurnBar,
    TrendPoint,
    budget_gauge,
    burn_chart,
    histogram,
    trend_chart,
)
from incidents.web.svg import duration_ticks, nice_count_ticks, safe_id, time_ticks
from incidents.web.timeline_chart import AlertMark, Milestone, timeline_chart

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def parse(markup: object) -> ET.Element:
    """Parse a chart as XML: it must be well-formed, titled and labelled."""
    root = ET.fromstring(str(markup))
    assert root.tag == "svg" and root.get("role") == "img"
    title_id, desc_id = str(root.get("aria-labelledby")).split()
    assert root.find("title") is not None and root.find("title").get("id") == title_id  # type: ignore[union-attr]
    assert root.find("desc") is not None and root.find("desc").get("id") == desc_id  # type: ignore[union-attr]
    return root


def marks(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def point(label: str, median: float | None, p90: float | None, n: int) -> TrendPoint:
    return TrendPoint(label=label, median=median, p90=p90, n=n)


def test_a_trend_has_one_point_per_period_with_data_left_to_right():
    points = [
        point("W1", 600, 1200, 4),
        point("W2", None, None, 0),
        point("W3", 300, 900, 7),
        point("W4", 1800, 3600, 12),
        point("W5", 900, 900, 1),
    ]
    root = parse(trend_chart(points, chart_id="t", title="MTTM per week"))
    found = marks(root, "point")
    assert len(found) == 4
    xs = [float(p.get("cx") or 0) for p in found]
    assert xs == sorted(xs)
    ys = {p.find("title").text.split(":")[0]: float(p.get("cy") or 0) for p in found}  # type: ignore[union-attr]
    assert ys["W4"] < ys["W1"] < ys["W3"], "a longer median is drawn higher"
    labels = [e.text for e in marks(root, "n-label")]
    assert labels == ["n=4", "n=0", "n=7", "n=12", "n=1"]
    assert len(marks(root, "median-line")) == 1, "W3–W5 are one run"
    assert len(marks(root, "gap-line")) == 1, "W1 and W3 are joined across the empty W2"
    assert len(marks(root, "p90-band")) == 2


@pytest.mark.parametrize("points", [[], [point("W1", None, None, 0)]])
def test_a_trend_without_data_says_so(points):
    root = parse(trend_chart(points, chart_id="t", title="MTTA"))
    assert not marks(root, "point") and marks(root, "empty")


def test_a_histogram_has_one_bar_per_bin_with_its_count():
    bins = [Bin("<5m", 3), Bin("5–15m", 0), Bin("15–30m", 11), Bin(HOSTILE, 1)]
    markup = str(histogram(bins, chart_id="h", title="Time to mitigate"))
    root = parse(markup)
    bars = marks(root, "bar")
    assert len(bars) == 4
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[1] == 0 and heights[2] > heights[0] > heights[3] > 0
    assert [e.text for e in marks(root, "bar-count")] == ["3", "0", "11", "1"]
    assert "<script" not in markup and "&lt;script&gt;" in markup
    ticks = [e.text for e in root.iter("text") if (e.text or "").isdigit()]
    assert "0" in ticks, "whole-number ticks for counts"
    assert not parse(histogram([], chart_id="h", title="x")).findall(".//rect")


def test_burn_bars_and_thresholds_match_the_windows():
    bars = [
        BurnBar("1h", 20.0, 14.4, "SEV1"),
        BurnBar("6h", 2.0, 6.0, "SEV2"),
        BurnBar("24h", None, 3.0, "SEV3"),
        BurnBar("3d", 0.5, None),
    ]
    root = parse(burn_chart(bars, chart_id="b", title="burn"))
    drawn = marks(root, "bar")
    assert len(drawn) == 3 and len(marks(root, "threshold")) == 3
    assert drawn[0].get("fill") != drawn[1].get("fill"), "over its threshold: red"
    assert any("24h (no data)" == e.text for e in root.iter("text"))
    assert not marks(parse(burn_chart([], chart_id="b", title="burn")), "bar")


@pytest.mark.parametrize(
    ("remaining", "text", "filled"),
    [
        (0.62, "62% of the error budget left", True),
        (-0.37, "budget exhausted: 37% over", True),
        (None, "no data", False),
    ],
)
def test_the_budget_gauge_states_what_is_left(remaining, text, filled):
    markup = str(budget_gauge(remaining, chart_id="g", title="budget"))
    root = parse(markup)
    assert text in markup
    assert bool(marks(root, "budget-fill")) is filled


MILESTONES = [
    Milestone("impact_started", "Impact started", at(0)),
    Milestone("detected", "Detected", at(90)),
    Milestone("acknowledged", "Acknowledged", at(95)),
    Milestone("mitigated", "Mitigated", at(150)),
    Milestone("resolved", "Resolved", at(180)),
]


def test_the_timeline_has_a_marker_per_milestone_and_a_mark_per_alert_on_one_axis():
    alerts = [
        AlertMark("drift", at(88), at(160)),
        AlertMark("slo burn", at(89)),
        AlertMark(HOSTILE, at(120)),
    ]
    markup = str(timeline_chart(MILESTONES, alerts, now=at(200), chart_id="tl", title="INC-1"))
    root = parse(markup)
    markers = marks(root, "marker")
    assert [m.get("class") for m in markers] == [
        f"marker marker-{kind}"
        for kind in ("impact-started", "detected", "acknowledged", "mitigated", "resolved")
    ]
    xs = [float(m.find("circle").get("cx") or 0) for m in markers]  # type: ignore[union-attr]
    assert xs == sorted(xs) and len(set(xs)) == 5
    alert_marks = marks(root, "alert-mark")
    assert len(alert_marks) == 3
    assert alert_marks[0].find("line") is not None, "an ended alert runs to its end"
    assert not marks(root, "now"), "resolved: no 'now' line"
    assert marks(root, "impact-band")
    assert "<script" not in markup and "&lt;script&gt;" in markup
    labels = [m.find("text") for m in markers]
    rows = {float(t.get("y") or 0) for t in labels if t is not None}
    assert len(rows) >= 2, "close labels (detected, acknowledged) go to different rows"


def test_an_ongoing_timeline_runs_to_now():
    root = parse(timeline_chart(MILESTONES[:3], [], now=at(400), chart_id="tl", title="x"))
    (now_mark,) = marks(root, "now")
    now_x = float(now_mark.find("line").get("x1") or 0)  # type: ignore[union-attr]
    last_marker = float(marks(root, "marker")[-1].find("circle").get("cx") or 0)  # type: ignore[union-attr]
    assert now_x > last_marker
    assert not marks(root, "alert-mark")


def test_an_empty_timeline_says_so():
    root = parse(timeline_chart([], [], now=T0, chart_id="tl", title="x"))
    assert marks(root, "empty") and not marks(root, "marker")


def test_a_single_instant_still_gets_a_readable_axis():
    root = parse(timeline_chart(MILESTONES[1:2], [], now=at(90), chart_id="tl", title="x"))
    assert len(marks(root, "marker")) == 1
    assert len([e for e in root.iter("text") if ":" in (e.text or "")]) >= 2, "time ticks"


def test_axis_helpers_cover_their_ranges_in_order():
    assert duration_ticks(5400)[-1] >= 5400 and duration_ticks(0) == [0.0, 60.0]
    assert nice_count_ticks(7)[-1] >= 7 and nice_count_ticks(3, whole=True) == [0, 1, 2, 3]
    ticks = time_ticks(at(3), at(185))
    assert ticks == sorted(ticks) and at(3) <= ticks[0] and ticks[-1] <= at(185)
    assert safe_id('a"b <c>') == "a-b--c-"
