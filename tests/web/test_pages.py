"""The pages, rendered from seeded data: list and filters, incident, metrics, SLOs, documents,
security headers, escaping and self-containment. Access control: test_pages_access.py."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, timedelta

import pytest
from markupsafe import escape
from sqlmodel import Session, select

from incidents.catalog import check as check_catalog
from incidents.demo import seed
from incidents.domain.metrics import DEFINITIONS, METRICS
from incidents.flows import summary
from incidents.flows.queries import durations_of
from incidents.resources import bundled_dir
from incidents.store.models import AlertRecord, Incident
from incidents.web import listing
from tests.web.pages import add_incidents, assert_accessible, external_urls

SHIPPED = check_catalog(bundled_dir("runbooks") / "catalog.yaml")[0]
PAGES = (
    "/ui/incidents",
    "/ui/incidents/INC-1",
    "/ui/incidents/INC-2",
    "/ui/incidents/3",
    "/ui/incidents/INC-6",
    "/ui/metrics",
    "/ui/metrics?period=month&group=severity",
    "/ui/metrics?group=slice",
    "/ui/slos",
)


@pytest.fixture
def seeded(client, engine, clock):
    """The three demo incidents (INC-1..3) plus INC-4..6 from tests.web.pages."""
    found = seed(engine, now=clock.now(), catalog=SHIPPED)
    add_incidents(client, clock.now())
    return found


def get(client, path: str, **kwargs):
    return client.get(path, follow_redirects=False, **kwargs)


def keys(html: str) -> list[str]:
    return re.findall(r'data-incident="(INC-\d+)"', html)


def svg(html: str, chart_id: str) -> ET.Element:
    """Return one chart of a page, parsed (so it is well-formed XML too)."""
    match = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, re.DOTALL)
    assert match, f"no chart {chart_id}"
    return ET.fromstring(match.group(0))


def marks(chart: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in chart.iter() if cls in (e.get("class") or "").split()]


def test_the_bare_host_sends_browsers_to_the_incident_list(client):
    answer = get(client, "/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/incidents")
    assert get(client, "/").status_code == 404, "API clients: / stays an unknown route"


def all_incidents(engine) -> list[Incident]:
    """Read every incident in a short session (an open one would hold SQLite's write turn)."""
    with Session(engine) as session:
        return list(session.exec(select(Incident)).all())


def test_every_page_is_accessible_and_loads_nothing_from_elsewhere(client, seeded, engine):
    data_links = {i.runbook for i in all_incidents(engine) if i.runbook}
    for path in PAGES:
        answer = get(client, path)
        assert answer.status_code == 200, (path, answer.text[:500])
        facts = assert_accessible(answer.text)
        assert set(external_urls(answer.text)) <= data_links, path
        assert all(url in data_links or url[0] in "/#" for url in facts.anchors), path


def test_the_list_shows_every_incident_newest_first_with_its_slice(client, seeded):
    page = get(client, "/ui/incidents").text
    assert keys(page) == ["INC-6", "INC-5", "INC-4", "INC-3", "INC-2", "INC-1"]
    assert "language=de,es,fr" in page and "language=it" in page
    assert "ongoing for 6h" in page, "the loan-default impact is still running"
    assert 'href="/ui/incidents/INC-3"' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=resolved", ["INC-5", "INC-4", "INC-2"]),
        ("status=open", ["INC-6", "INC-3", "INC-1"]),
        ("severity=SEV2", ["INC-3", "INC-1"]),
        ("service=checkout", ["INC-4"]),
        ("model=chatbot", ["INC-6", "INC-3"]),
        ("slice=language%3Dde%2Ces%2Cfr", ["INC-3"]),
        ("period=7d", ["INC-6", "INC-3", "INC-2", "INC-1"]),
        ("period=30d&severity=SEV1", ["INC-4"]),
        ("service=nothing-like-it", []),
    ],
)
def test_filters_narrow_the_list(client, seeded, query, expected):
    page = get(client, f"/ui/incidents?{query}").text
    assert keys(page) == expected
    if not expected:
        assert "No incidents match these filters." in page


def test_the_form_keeps_the_chosen_filters(client, seeded):
    page = get(client, "/ui/incidents?service=checkout&period=30d").text
    assert '<option value="checkout" selected>' in page
    assert '<option value="30d" selected>' in page


@pytest.mark.parametrize(
    "query", ["status=bogus", "severity=P0", "period=2y", "seen=x", "cursor=zz"]
)
def test_a_filter_no_form_could_send_is_a_clear_422(client, seeded, query):
    answer = get(client, f"/ui/incidents?{query}")
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text


def test_new_since_marks_what_arrived_after_the_last_look(client, seeded):
    first = get(client, "/ui/incidents").text
    assert "row-new" not in first and 'href="/ui/incidents?seen=6"' in first
    later = get(client, "/ui/incidents?seen=4").text
    assert re.findall(r'class="incident-row row-new" data-incident="(INC-\d+)"', later) == [
        "INC-6",
        "INC-5",
    ]
    assert "2 new incidents" in later
    assert "No new incidents" in get(client, "/ui/incidents?seen=6").text


def test_auto_refresh_is_opt_in_and_keeps_the_new_since_mark(client, seeded):
    assert 'http-equiv="refresh"' not in get(client, "/ui/incidents").text
    page = get(client, "/ui/incidents?auto=1&severity=SEV2").text
    refresh = '<meta http-equiv="refresh" content="60; url=/ui/incidents?severity=SEV2&amp;'
    assert refresh + 'seen=3&amp;auto=1">' in page


def test_pages_of_the_list_follow_the_cursor(client, seeded, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    first = get(client, "/ui/incidents").text
    assert keys(first) == ["INC-6", "INC-5"]
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = get(client, older.group(1).replace("&amp;", "&")).text
    assert keys(second) == ["INC-4", "INC-3"]


def test_an_ongoing_incident_shows_its_clock_timeline_impact_and_links(
    client, seeded, engine, clock, settings
):
    page = get(client, "/ui/incidents/INC-1").text
    assert "Loan-default model drift" in page and "<title>INC-1: " in page
    assert ">SEV2<" in page and ">acknowledged<" in page
    assert "Subject: <strong>loan-default</strong>" in page
    assert "Commander: <strong>ana</strong>" in page
    assert "2026-11-25 03:00:00 UTC" in page, "impact start, corrected to 6 h before now"
    chart = svg(page, "timeline-1")
    assert [m.get("class") for m in marks(chart, "marker")] == [
        "marker marker-impact-started",
        "marker marker-detected",
        "marker marker-acknowledged",
    ]
    xs = [float(m.find("circle").get("cx") or 0) for m in marks(chart, "marker")]  # type: ignore[union-attr]
    assert xs == sorted(xs), "one time axis: earlier moments lie further left"
    assert len(marks(chart, "alert-mark")) == 1 and marks(chart, "now")
    with Session(engine) as session:
        found = summary.summary(
            1,
            session=session,
            clock=clock,
            cadence=settings.cadence,
            public_url=settings.public_url,
        )
    assert found.money is not None
    assert str(escape(found.money.text)) in page and str(escape(found.money.formula_line)) in page
    assert '<a href="http://127.0.0.1:8000/runbooks/model-drift" rel="noreferrer">' in page
    for name in ("postmortem.html", "postmortem.md", "summary.html", "summary.md"):
        assert f'href="/ui/incidents/INC-1/{name}"' in page


def test_a_resolved_incident_shows_all_five_milestones_and_no_now_line(client, seeded):
    page = get(client, "/ui/incidents/INC-2").text
    chart = svg(page, "timeline-2")
    assert len(marks(chart, "marker")) == 5
    assert not marks(chart, "alert-mark") and not marks(chart, "now")
    assert "No alerts: this incident was declared by a person." in page
    assert "40m" in page, "time to mitigate"


def test_slice_scoped_incidents_show_the_slice_alerts_and_overrides(client, seeded):
    scan = get(client, "/ui/incidents/3").text
    assert "Subject: <strong>chatbot · language=de,es,fr</strong>" in scan
    chart = svg(scan, "timeline-3")
    assert (len(marks(chart, "marker")), len(marks(chart, "alert-mark"))) == (4, 1)
    italian = get(client, "/ui/incidents/INC-6").text
    assert "chatbot · language=it" in italian
    row = re.search(r'<table class="overrides">.*?</table>', italian, re.DOTALL)
    assert row is not None
    for cell in ("chatbot", "language=it", "fallback", "rules-v3", "<strong>active</strong>"):
        assert cell in row.group(0)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/incidents/999",
        "/ui/incidents/nope",
        "/ui/incidents/INC-1/secrets.txt",
        "/ui/incidents/998/summary.md",
    ],
)
def test_unknown_incidents_and_documents_are_404_pages(client, seeded, path):
    answer = get(client, path)
    assert answer.status_code == 404
    assert "<h1>Not found</h1>" in answer.text


def test_documents_open_from_the_pages_with_a_script_free_policy(client, seeded):
    html = get(client, "/ui/incidents/INC-2/postmortem.html")
    assert html.status_code == 200 and "<style>" in html.text
    policy = html.headers["content-security-policy"]
    assert "style-src 'sha256-" in policy and "script-src 'none'" in policy
    markdown = get(client, "/ui/incidents/INC-2/summary.md")
    assert markdown.headers["content-type"].startswith("text/plain")
    assert "INC-2" in markdown.text
    assert get(client, "/ui/incidents/INC-1/summary.html").status_code == 200
    assert get(client, "/ui/incidents/INC-1/postmortem.md").status_code == 200


def weeks_with_values(engine, metric: str, now) -> int:
    """Count ISO weeks (by detection) in the last 90 days with a value of `metric`."""
    found = set()
    for incident in all_incidents(engine):
        if getattr(durations_of(incident), metric) is None:
            continue
        detected = incident.detected_at.astimezone(UTC)
        if now - timedelta(days=90) <= detected < now:
            found.add((detected - timedelta(days=detected.weekday())).date())
    return len(found)


def test_metrics_draw_one_point_per_week_with_data_and_the_definitions(
    client, seeded, engine, clock
):
    page = get(client, "/ui/metrics").text
    for metric in METRICS:
        chart = svg(page, f"trend-{metric.short}-0")
        expected = weeks_with_values(engine, metric.name, clock.now())
        assert len(marks(chart, "point")) == expected >= 3, metric.short
        assert marks(chart, "gap-line"), "weeks without incidents between: dotted"
    bars = marks(svg(page, "ttm-histogram"), "bar")
    assert len(bars) == 10
    mitigated = [i for i in all_incidents(engine) if i.mitigated_at]
    counts = [int(e.text or 0) for e in marks(svg(page, "ttm-histogram"), "bar-count")]
    assert sum(counts) == len(mitigated) == 5
    for text in DEFINITIONS.values():
        assert str(escape(text)) in page


def test_metrics_group_and_period_selectors(client, seeded):
    page = get(client, "/ui/metrics?group=severity&period=month&window=365d").text
    for index, severity in enumerate(("SEV2", "SEV3", "SEV1", "SEV4")):
        assert f"Severity: {severity}" in page
        assert f'id="trend-MTTR-{index}"' in page
    assert "Nov 2026" in page and '<option value="month" selected>' in page
    monthly = get(client, "/ui/metrics?period=month&window=365d").text
    assert marks(svg(monthly, "trend-MTTR-0"), "median-line"), "Oct and Nov: a solid line"
    assert '<option value="severity" selected>' in page


def test_metrics_refuse_a_grouping_no_selector_offers(client, seeded):
    assert get(client, "/ui/metrics?group=title").status_code == 422
    assert get(client, "/ui/metrics?window=1000y").status_code == 422


def test_the_slo_page_draws_budgets_and_burn_rates_against_thresholds(client, seeded, clock):
    pushed = client.post(
        "/api/slos/recsys-availability/events",
        json=[{"at": clock.now().isoformat(), "good": 990, "total": 1000}],
    )
    assert pushed.status_code == 200, pushed.text
    page = get(client, "/ui/slos").text
    burn = svg(page, "burn-recsys-availability")
    assert len(marks(burn, "bar")) == 4, "every window holds the pushed minute"
    assert len(marks(burn, "threshold")) == 4
    assert "2.00×" in page, "1% bad against a 0.5% budget burns at 2×"
    assert marks(svg(page, "budget-chatbot-uptime"), "budget-fill"), "incident minutes count"
    assert not marks(svg(page, "burn-checkout-availability"), "bar"), "no events yet"


def test_without_slos_there_is_no_slo_page_or_link(client, seeded, monkeypatch):
    monkeypatch.setattr("incidents.web.budgets.load_slos", lambda _dir: [])
    assert get(client, "/ui/slos").status_code == 404
    assert 'href="/ui/slos"' not in get(client, "/ui/incidents").text


def test_every_answer_under_ui_carries_the_security_headers(client, seeded):
    for path in (
        *PAGES,
        "/",
        "/ui",
        "/ui/incidents/999",
        "/ui/static/style.css",
        "/ui/login",
        "/ui/incidents?status=bogus",
        "/ui/static/nothing.js",
    ):
        headers = get(client, path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'none'" in policy, path
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


HOSTILE = '<script>alert("x")</script>'


def test_hostile_text_is_escaped_everywhere_including_inside_charts(client, engine, clock):
    created = client.post(
        "/api/incidents",
        json={
            "title": HOSTILE,
            "severity": "SEV2",
            "service": HOSTILE,
            "model": HOSTILE,
            "slice": {"lang": HOSTILE},
            "summary": HOSTILE,
            "commander": HOSTILE,
            "impact_started_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "detected_at": (clock.now() - timedelta(minutes=30)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    assert client.post("/api/incidents/1/notes", json={"text": HOSTILE}).status_code == 201
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        incident.runbook = "javascript:alert(1)"
        now = clock.now()
        session.add(incident)
        session.add(
            AlertRecord(
                incident_id=1,
                source="ml",
                fingerprint="f",
                group_key="g",
                status="firing",
                severity="SEV2",
                title=HOSTILE,
                starts_at=now,
                first_seen_at=now,
                last_seen_at=now,
                links=[{"href": "javascript:alert(2)", "text": HOSTILE}],
            )
        )
        session.commit()
    paths = (
        "/ui/incidents",
        "/ui/incidents/1",
        "/ui/metrics?group=service",
        "/ui/metrics?group=slice",
        "/ui/metrics?group=model",
        "/ui/incidents/1/summary.html",
        "/ui/incidents/1/postmortem.html",
    )
    for path in paths:
        page = get(client, path).text
        assert "<script" not in page.lower(), path
        assert "&lt;script&gt;" in page, path
    detail = get(client, "/ui/incidents/1").text
    assert 'href="javascript' not in detail and "(not a web link)" in detail
    alert_title = marks(svg(detail, "timeline-1"), "alert-mark")[0].find("title")
    assert alert_title is not None and HOSTILE in (alert_title.text or "")
    assert "&lt;script&gt;" in re.search(
        r'<svg class="chart" id="timeline-1".*?</svg>', detail, re.DOTALL
    ).group(0)  # type: ignore[union-attr]
