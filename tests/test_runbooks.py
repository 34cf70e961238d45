"""Runbooks (DESIGN §10): the most specific match wins, mistakes are reported at their line,
the shipped runbooks are valid and match the scenarios, incidents get the right link on open,
and ``GET /runbooks/{name}`` serves the Markdown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from incidents import runbooks as rb
from incidents.api.app import create_app
from incidents.api.routers import runbooks as runbooks_router
from incidents.config import Settings, get_settings
from incidents.demo import drift_alert_body
from incidents.domain.severity import Severity
from incidents.flows.incidents import Declaration, declare
from incidents.resources import bundled_dir
from incidents.runbooks import Runbook, best_match, check, labels_of_incident, load_runbooks
from tests.fakes import FrozenClock
from tests.payloads import load, raw

SHIPPED = bundled_dir("runbooks")
TOKEN = "webhook-token-for-tests"
HOOK = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
PUBLIC = "https://incidents.example.com"


def book(name: str, *match: dict[str, str], severity: Severity | None = None) -> Runbook:
    """Build a runbook in memory (matching does not read files)."""
    return Runbook(name=name, title=name, match=match, severity=severity, owner=None, body="x",
                   path=Path(f"{name}.md"))  # fmt: skip


def choose(labels: dict[str, str], *books: Runbook) -> str | None:
    """Return the chosen runbook's name, checking the order of the list does not matter."""
    forward, backward = best_match(books, labels), best_match(reversed(books), labels)
    assert forward == backward
    return forward.name if forward else None


# -- matching -------------------------------------------------------------------------------

DRIFT = {"model": "loan-default", "signal": "data_drift", "severity": "SEV2", "source": "ml"}


def test_more_matchers_beat_fewer_even_when_the_fewer_are_exact():
    broad = book("a-broad", {"model": "loan-default"})
    narrow = book("z-narrow", {"model": "loan-*", "signal": "*drift"})
    assert choose(DRIFT, broad, narrow) == "z-narrow"


def test_exact_beats_glob_and_a_longer_literal_prefix_beats_a_shorter_one():
    exact = book("c-exact", {"model": "loan-default"})
    long_glob = book("b-long", {"model": "loan-*"})
    short_glob = book("a-short", {"model": "l*"})
    assert choose(DRIFT, exact, long_glob, short_glob) == "c-exact"
    assert choose(DRIFT, long_glob, short_glob) == "b-long"
    assert choose(DRIFT, book("q", {"model": "?oan-default"}), long_glob) == "b-long"


def test_ties_are_broken_by_name_whatever_the_order():
    first = book("alpha", {"signal": "data_drift"})
    second = book("beta", {"model": "loan-default"})
    assert choose(DRIFT, second, first) == "alpha"


def test_a_severity_floor_applies_at_that_severity_or_worse_and_wins_a_tie():
    general = book("general", {"signal": "data_drift"})
    paging = book("paging", {"signal": "data_drift"}, severity=Severity.SEV2)
    sev1 = book("sev1-only", {"signal": "data_drift"}, severity=Severity.SEV1)
    assert choose(DRIFT, general, paging, sev1) == "paging"
    assert choose({**DRIFT, "severity": "SEV1"}, general, paging, sev1) == "sev1-only"
    assert choose({**DRIFT, "severity": "SEV3"}, general, paging, sev1) == "general"
    assert choose({"signal": "data_drift"}, paging) is None, "unknown severity: no floor applies"


def test_any_label_set_may_match_and_the_best_one_counts():
    either = book("either", {"alertname": "ModelDrift*"}, {"signal": "data_drift", "model": "l*"})
    other = book("other", {"signal": "data_drift"})
    assert choose(DRIFT, either, other) == "either"
    assert choose({"alertname": "ModelDriftDetected"}, either, other) == "either"


def test_absent_labels_never_match_and_patterns_are_case_sensitive():
    sliced = book("sliced", {"slice": "*"})
    assert choose(DRIFT, sliced) is None
    assert choose({**DRIFT, "slice": "language=de"}, sliced) == "sliced"
    lower = {"alertname": "modeldriftdetected"}
    assert choose(lower, book("m", {"alertname": "ModelDrift*"})) is None
    assert best_match([], DRIFT) is None


def test_labels_of_an_incident_are_alert_labels_plus_its_subject_and_slice():
    incident = SimpleNamespace(service="support-chat", model="chatbot", model_version="3",
                               severity="SEV2", source="ml",
                               slice={"language": "de", "region": "eu"})  # fmt: skip
    alerts = [{"signal": "performance", "severity": "critical", "model": "other"},
              {"signal": "ignored", "metric": "csat_rate"}]  # fmt: skip
    assert labels_of_incident(incident, alerts) == {
        "signal": "performance", "metric": "csat_rate", "severity": "SEV2", "model": "chatbot",
        "service": "support-chat", "model_version": "3", "source": "ml",
        "slice": "language=de,region=eu", "slice.language": "de", "slice.region": "eu",
    }  # fmt: skip
    bare = SimpleNamespace(service=None, model=None, model_version=None, severity="SEV4",
                           source="manual", slice=None)  # fmt: skip
    assert labels_of_incident(bare) == {"severity": "SEV4", "source": "manual"}


# -- validation -----------------------------------------------------------------------------

GOOD = """---
title: Fine
match:
  model: "loan-*"
---
# Steps
"""

MISTAKES = [
    ("no front matter", "# Just Markdown\n", 1, "no front matter"),
    ("unclosed", "---\ntitle: x\nmatch: {a: b}\n# body\n", 1, "never closed"),
    ("bad yaml", "---\ntitle: x\nmatch:\n  a: [b\n---\nbody\n", 5, "not valid YAML"),
    ("unquoted star", "---\ntitle: x\nmatch:\n  slice: *\n---\nbody\n", 4, "quote patterns"),
    ("no title", "---\nmatch: {a: b}\n---\nbody\n", 1, "missing title"),
    ("empty title", "---\ntitle: ''\nmatch: {a: b}\n---\nbody\n", 2, "title must be"),
    ("no match", "---\ntitle: x\n---\nbody\n", 1, "missing match"),
    ("empty match", "---\ntitle: x\nmatch: {}\n---\nbody\n", 3, "match is empty"),
    ("empty list", "---\ntitle: x\nmatch: []\n---\nbody\n", 3, "match is empty"),
    ("match text", "---\ntitle: x\nmatch: loan-default\n---\nbody\n", 3, "must be a mapping"),
    ("null pattern", "---\ntitle: x\nmatch:\n  a: b\n  slice:\n---\nbody\n", 5, "needs a pattern"),
    ("bad severity", "---\ntitle: x\nmatch: {a: b}\nseverity: P0\n---\nbody\n", 4,
     "unknown severity 'P0'"),
    ("duplicate key", "---\ntitle: x\nmatch: {a: b}\ntitle: y\n---\nbody\n", 4,
     "duplicate key 'title' (first on line 2)"),
    ("duplicate label", "---\ntitle: x\nmatch:\n  a: b\n  a: c\n---\nbody\n", 5,
     "duplicate key 'a'"),
    ("not a mapping", "---\n- a\n- b\n---\nbody\n", 2, "must be a mapping"),
    ("empty front matter", "---\n---\nbody\n", 1, "front matter is empty"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])  # fmt: skip
def test_each_mistake_is_reported_at_its_line_and_the_runbook_is_not_used(
    tmp_path: Path, text: str, line: int, message: str
):
    (tmp_path / "fine.md").write_text(GOOD)
    target = tmp_path / "broken.md"
    target.write_text(text)
    runbooks, problems = check(tmp_path)
    assert [r.name for r in runbooks] == ["fine"]
    assert len(problems) == 1, problems
    assert str(problems[0]).startswith(f"{target}:{line}: "), str(problems[0])
    assert message in problems[0].message


def test_warnings_keep_the_runbook_usable(tmp_path: Path):
    target = tmp_path / "loose.md"
    target.write_text("---\ntitle: x\nmatch: {a: b}\ntags: [x]\nowner: me\n---\n\n")
    runbooks, problems = check(tmp_path)
    assert [(r.name, r.owner) for r in runbooks] == [("loose", "me")]
    assert [str(p) for p in problems] == [
        f"{target}:4: unknown key 'tags' (use title, match, severity, owner)",
        f"{target}:6: no body: write the steps below the front matter",
    ]


def test_bad_names_and_duplicate_match_sets_are_reported(tmp_path: Path):
    (tmp_path / "Model_Drift.md").write_text(GOOD)
    (tmp_path / "a-first.md").write_text(GOOD)
    (tmp_path / "b-second.md").write_text(GOOD)
    (tmp_path / "README.md").write_text("# Not a runbook\n")
    (tmp_path / "catalog.yaml").write_text("services: {}\n")
    runbooks, problems = check(tmp_path)
    assert [r.name for r in runbooks] == ["a-first", "b-second"]
    texts = [str(p) for p in problems]
    assert f"{tmp_path / 'Model_Drift.md'}:1: file name 'Model_Drift' must be" in texts[0]
    duplicate = f"{tmp_path / 'b-second.md'}:4: same match as a-first.md"
    assert any(text.startswith(duplicate) for text in texts)


def test_front_matter_values_keep_their_text_and_a_bom_is_ignored(tmp_path: Path):
    (tmp_path / "v.md").write_text(
        "\ufeff---\ntitle: Version 7\nmatch:\n  model_version: 7\nseverity: sev2\n---\nbody\n"
    )
    (runbook,), problems = check(tmp_path)
    assert problems == []
    assert runbook.match == ({"model_version": "7"},)
    assert runbook.severity is Severity.SEV2
    assert runbook.body == "body\n"


def test_loading_is_cached_until_the_folder_changes(tmp_path: Path, monkeypatch):
    (tmp_path / "one.md").write_text(GOOD)
    first = load_runbooks(tmp_path)
    reads: list[Path] = []
    original = Path.read_text

    def counting(self: Path, *args, **kwargs):
        reads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    assert load_runbooks(tmp_path) is first
    assert reads == [], "an unchanged folder is not read again"
    (tmp_path / "two.md").write_text(GOOD.replace("loan-*", "chat*"))
    assert [r.name for r in load_runbooks(tmp_path)] == ["one", "two"]
    (tmp_path / "one.md").write_text(GOOD.replace("Fine", "Changed title"))
    assert load_runbooks(tmp_path)[0].title == "Changed title"
    assert load_runbooks(tmp_path / "missing") == ()


# -- the shipped runbooks -------------------------------------------------------------------


def test_the_shipped_runbooks_are_valid_owned_and_substantial():
    runbooks, problems = check(SHIPPED)
    assert problems == []
    assert {r.name for r in runbooks} == {"model-drift", "slice-regression", "canary-rollback",
                                         "alert-pipeline-failure", "toolkit-outage"}  # fmt: skip
    for runbook in runbooks:
        assert runbook.owner, runbook.name
        assert 40 <= len(runbook.path.read_text().splitlines()) <= 120, runbook.name


REALISTIC = [
    ("ml drift", {"model": "loan-default", "signal": "data_drift", "feature": "income",
                  "metric": "psi", "severity": "SEV3", "source": "ml"}, "model-drift"),
    ("prediction drift", {"model": "recsys", "signal": "prediction_drift", "severity": "SEV3",
                          "source": "ml"}, "model-drift"),
    ("alertmanager drift", {"alertname": "ModelDriftDetected", "model": "loan-default",
                            "severity": "SEV2", "source": "alertmanager"}, "model-drift"),
    ("drift in a slice", {"model": "chatbot", "signal": "data_drift", "slice": "language=de",
                          "slice.language": "de", "severity": "SEV3", "source": "evidently"},
     "model-drift"),
    ("slice performance", {"model": "chatbot", "signal": "performance", "metric": "csat_rate",
                           "slice": "language=de", "slice.language": "de", "severity": "SEV2",
                           "source": "ml"}, "slice-regression"),
    ("declared slice", {"model": "chatbot", "slice": "language=es", "slice.language": "es",
                        "severity": "SEV2", "source": "manual"}, "slice-regression"),
    ("canary alert", {"alertname": "CanaryErrorRateHigh", "service": "recsys",
                      "severity": "SEV2", "source": "alertmanager"}, "canary-rollback"),
    ("canary drift", {"model": "recsys", "environment": "canary", "signal": "prediction_drift",
                      "severity": "SEV3", "source": "ml"}, "canary-rollback"),
    ("webhook errors", {"alertname": "IncidentsWebhookErrors", "service": "incidents",
                        "severity": "SEV2", "source": "alertmanager"}, "alert-pipeline-failure"),
    ("alertmanager failing", {"alertname": "AlertmanagerFailedToSendAlerts",
                              "integration": "webhook", "severity": "SEV3",
                              "source": "alertmanager"}, "alert-pipeline-failure"),
    ("toolkit down", {"alertname": "IncidentsDown", "job": "incidents", "severity": "SEV1",
                      "source": "grafana"}, "toolkit-outage"),
    ("declared outage", {"service": "incidents", "severity": "SEV1", "source": "manual"},
     "toolkit-outage"),
    ("unrelated", {"alertname": "HighErrorRate", "service": "checkout", "severity": "SEV1",
                   "source": "alertmanager"}, None),
]  # fmt: skip


@pytest.mark.parametrize(("labels", "expected"), [r[1:] for r in REALISTIC],
                         ids=[r[0] for r in REALISTIC])  # fmt: skip
def test_realistic_label_sets_get_the_right_shipped_runbook(labels, expected):
    chosen = best_match(load_runbooks(SHIPPED), labels)
    assert (chosen.name if chosen else None) == expected


# -- linking on open ------------------------------------------------------------------------


def with_runbooks(app: FastAPI) -> FastAPI:
    """Include the runbooks router unless the app factory already does."""
    if not any(getattr(route, "path", None) == "/runbooks/{name}" for route in app.routes):
        app.include_router(runbooks_router.router)
    return app


@pytest.fixture
def hooks(database_url, engine) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, webhook_token=TOKEN, public_url=PUBLIC + "/")
    clock = FrozenClock(datetime(2026, 11, 25, 9, 30, tzinfo=UTC))
    with TestClient(with_runbooks(create_app(settings, engine=engine, clock=clock))) as client:
        yield client


def runbook_of(client: TestClient, ref: int) -> str | None:
    link: str | None = client.get(f"/api/incidents/{ref}").json()["runbook"]
    return link


def test_a_slice_performance_alert_links_the_slice_regression_runbook(hooks):
    body = raw("ml/chatbot_slice_satisfaction_firing.json")
    answer = hooks.post("/webhooks/ml", content=body, headers=HOOK).json()
    assert len(answer["incidents"]) == 2, "one incident per slice"
    for ref in answer["incidents"]:
        assert runbook_of(hooks, ref) == f"{PUBLIC}/runbooks/slice-regression"


def test_a_drift_alert_links_the_model_drift_runbook(hooks):
    alert = {**load("ml/loan_default_drift_resolved.json"), "status": "firing", "value": 0.31}
    answer = hooks.post("/webhooks/ml", content=json.dumps(alert), headers=HOOK).json()
    assert runbook_of(hooks, answer["incidents"][0]) == f"{PUBLIC}/runbooks/model-drift"
    detected = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    demo = hooks.post("/webhooks/alertmanager", content=drift_alert_body(detected), headers=HOOK)
    assert runbook_of(hooks, demo.json()["incidents"][0]) == f"{PUBLIC}/runbooks/model-drift"


def test_an_alert_that_names_its_own_runbook_keeps_it(hooks):
    body = raw("alertmanager/webhook_v4_firing_two_alerts.json")
    answer = hooks.post("/webhooks/alertmanager", content=body, headers=HOOK).json()
    own = "https://runbooks.example.internal/checkout/high-error-rate"
    assert runbook_of(hooks, answer["incidents"][0]) == own


def test_an_alert_nothing_matches_gets_no_runbook(hooks):
    alert = {"model": "fraud", "signal": "slo_burn", "metric": "burn_rate", "value": 20,
             "threshold": 14.4, "status": "firing"}  # fmt: skip
    answer = hooks.post("/webhooks/ml", content=json.dumps(alert), headers=HOOK).json()
    assert runbook_of(hooks, answer["incidents"][0]) is None


@pytest.fixture
def env_settings(monkeypatch) -> Iterator[None]:
    """Make the process settings (what `declare` falls back to) fresh for this test."""
    monkeypatch.delenv("INCIDENTS_RUNBOOKS_DIR", raising=False)
    monkeypatch.setenv("INCIDENTS_PUBLIC_URL", PUBLIC)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_declared_incident_links_its_runbook(client, env_settings):
    created = client.post("/api/incidents", json={"title": "German answers are bad",
                                                  "severity": "SEV2", "model": "chatbot",
                                                  "slice": {"language": "de"}})  # fmt: skip
    assert created.status_code == 201
    assert created.json()["runbook"] == f"{PUBLIC}/runbooks/slice-regression"
    plain = client.post("/api/incidents", json={"title": "Checkout slow", "severity": "SEV3"})
    assert plain.json()["runbook"] is None


def test_declare_takes_the_runbooks_folder_and_url_it_is_given(session: Session, tmp_path: Path):
    (tmp_path / "ours.md").write_text(GOOD.replace('model: "loan-*"', "service: incidents"))
    declaration = Declaration(title="Toolkit down", severity=Severity.SEV1, service="incidents")
    clock = FrozenClock()
    incident = declare(declaration, session=session, clock=clock, runbooks_dir=tmp_path,
                       public_url="http://tool.internal:8000")  # fmt: skip
    assert incident.runbook == "http://tool.internal:8000/runbooks/ours"
    shipped = declare(declaration, session=session, clock=clock, runbooks_dir=SHIPPED,
                      public_url=PUBLIC)  # fmt: skip
    assert shipped.runbook == f"{PUBLIC}/runbooks/toolkit-outage"
    clock.advance(minutes=1)
    nothing = declare(declaration, session=session, clock=clock,
                      runbooks_dir=tmp_path / "missing", public_url=PUBLIC)  # fmt: skip
    assert nothing.runbook is None


def test_a_url_too_long_for_the_column_is_not_linked(tmp_path: Path):
    (tmp_path / "x.md").write_text(GOOD)
    labels = {"model": "loan-default"}
    assert rb.link_for(labels, runbooks_dir=tmp_path, public_url="https://a.b") == (
        "https://a.b/runbooks/x"
    )
    assert rb.link_for(labels, runbooks_dir=tmp_path, public_url="https://" + "a" * 300) is None


# -- serving --------------------------------------------------------------------------------


def test_a_runbook_is_served_as_markdown(hooks):
    response = hooks.get("/runbooks/model-drift")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.text == (SHIPPED / "model-drift.md").read_text()
    assert response.text.startswith("---\ntitle: Model drift")


@pytest.mark.parametrize("name", ["nope", "Model-Drift", "catalog", "README", "model-drift.md",
                                  "..", "..%2Fcatalog.yaml", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
                                  "../../etc/passwd", "model-drift%00"])  # fmt: skip
def test_unknown_names_and_path_tricks_are_404(hooks, name):
    response = hooks.get(f"/runbooks/{name}")
    assert response.status_code == 404
    assert "root:" not in response.text and "services:" not in response.text


def test_the_list_names_titles_and_matches(hooks):
    listed = {item["name"]: item for item in hooks.get("/runbooks").json()}
    assert set(listed) == {"model-drift", "slice-regression", "canary-rollback",
                           "alert-pipeline-failure", "toolkit-outage"}  # fmt: skip
    drift = listed["model-drift"]
    assert drift["title"].startswith("Model drift")
    assert {"signal": "data_drift"} in drift["match"]
    assert drift["owner"] == "ml-reliability"
    assert drift["url"] == f"{PUBLIC}/runbooks/model-drift"


def test_runbooks_need_the_api_token_when_one_is_set(database_url, engine):
    settings = Settings(database_url=database_url, api_token="api-token-for-tests")
    app = with_runbooks(create_app(settings, engine=engine, clock=FrozenClock()))
    with TestClient(app) as client:
        assert client.get("/runbooks").status_code == 401
        assert client.get("/runbooks/model-drift").status_code == 401
        auth = {"Authorization": "Bearer api-token-for-tests"}
        assert client.get("/runbooks/model-drift", headers=auth).status_code == 200
