"""The demo data: the three DESIGN §1 incidents, seeded once through the real flows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from incidents.catalog import Catalog, check
from incidents.cli import app
from incidents.demo import Seeded, drift_alert_body, seed
from incidents.domain.five_whys import blame_nudge
from incidents.domain.impact import Range
from incidents.errors import NotFound
from incidents.flows import postmortems
from incidents.flows.impact import current_estimate
from incidents.resources import bundled_dir
from incidents.store import incidents as store
from incidents.store import migrate
from incidents.store.db import build_engine
from incidents.store.models import Incident, TimelineEntry
from tests.payloads import load

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHIPPED = check(bundled_dir("runbooks") / "catalog.yaml")[0]


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def count(session: Session, table: type[Incident] | type[TimelineEntry]) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


def kinds(session: Session, incident_id: int) -> list[str]:
    return [entry.kind for entry in store.list_timeline(session, incident_id)]


@pytest.fixture
def seeded(engine) -> Seeded:
    return seed(engine, now=NOW, catalog=SHIPPED)


def test_an_empty_database_gets_three_incidents(seeded, session):
    assert seeded == Seeded(loan_default=1, recsys=2, chatbot=3, created=True)
    assert count(session, Incident) == 3


def test_loan_default_drift_is_an_ongoing_sev2_opened_by_an_alert(seeded, session):
    incident = store.get_incident(session, seeded.loan_default)
    assert (incident.status, incident.severity, incident.model) == ("acknowledged", "SEV2",
                                                                    "loan-default")  # fmt: skip
    assert (incident.source, incident.reporter) == ("alertmanager", "alertmanager")
    assert incident.impact_started_at == ago(hours=6)
    assert incident.impact_started_source == "human"  # corrected by a person, not defaulted
    assert incident.detected_at == ago(hours=2)
    assert incident.reported_at == ago(hours=2) + timedelta(seconds=30)  # group_wait
    assert incident.acknowledged_at == ago(hours=1, minutes=50)
    assert incident.mitigated_at is None and incident.resolved_at is None
    assert incident.impact == {
        "model": "credit",
        "currency": "EUR",
        "inputs": {"approvals_per_day": [2400, 2400], "delta_pd": [0.01, 0.03],
                   "lgd": [0.45, 0.45], "ead": [12000, 12000]},
    }  # fmt: skip
    # 2,400/day × ΔPD 1–3% × LGD 0.45 × EAD 12,000 = 129,600–388,800 €/day, for 6 h (¼ day)
    figure = current_estimate(incident, now=NOW)
    assert figure is not None and figure.ongoing
    assert figure.total == Range(32_400, 97_200)
    [alert] = store.list_alerts(session, seeded.loan_default)
    assert alert.labels["model"] == "loan-default" and alert.starts_at == ago(hours=2)
    assert kinds(session, seeded.loan_default) == [
        "opened", "alert_added", "acknowledged", "note", "corrected", "edited", "edited",
        "impact_set", "note",
    ]  # fmt: skip
    assert incident.summary is not None and "approved" in incident.summary
    last_note = store.list_timeline(session, seeded.loan_default)[-1]
    assert last_note.kind == "note" and last_note.at == ago(hours=1)


def test_recsys_canary_is_resolved_with_a_finished_postmortem(seeded, session):
    incident = store.get_incident(session, seeded.recsys)
    assert incident.title == "Canary recsys v2: click-through rate below baseline"
    assert (incident.status, incident.severity, incident.source) == ("resolved", "SEV3", "manual")
    assert (incident.model, incident.model_version, incident.service) == ("recsys", "v2", None)
    assert incident.impact_started_at == ago(hours=5)
    assert incident.detected_at == ago(hours=4, minutes=45)
    assert incident.acknowledged_at == ago(hours=4, minutes=42)
    assert incident.mitigated_at == ago(hours=4, minutes=20)  # 40 minutes of impact
    assert incident.resolved_at == ago(hours=3, minutes=50)
    # The canary had 10% of the catalog's 250,000 sessions/h; Δrate and value as the catalog.
    assert incident.impact == {
        "model": "conversion",
        "currency": "EUR",
        "inputs": {"delta_rate": [0.002, 0.006], "volume_per_hour": [25000, 25000],
                   "value_per_unit": [1.2, 1.2]},
    }  # fmt: skip
    # 0.002–0.006 × 25,000/h × €1.20 × ⅔ h = €40–€120
    figure = current_estimate(incident, now=NOW)
    assert figure is not None and not figure.ongoing
    assert figure.total.low == pytest.approx(40) and figure.total.high == pytest.approx(120)

    view = postmortems.show(seeded.recsys, session=session)
    assert view.postmortem is not None and view.postmortem.status == "done"
    assert view.postmortem.problem_statement
    assert len(view.whys) >= 3 and view.postmortem.root_cause_position == len(view.whys)
    assert all(blame_nudge(why.answer) is None for why in view.whys)
    assert [(a.owner, a.due, a.status) for a in view.actions] == [
        ("ben", date(2026, 12, 9), "open"),
        ("carla", date(2026, 12, 23), "open"),
    ]
    assert "postmortem" in kinds(session, seeded.recsys)


def test_chatbot_slice_is_mitigated_by_manual_review_and_still_open(seeded, session):
    incident = store.get_incident(session, seeded.chatbot)
    assert (incident.status, incident.severity, incident.model) == ("mitigated", "SEV2", "chatbot")
    assert incident.title == "performance on chatbot (language=de,es,fr): csat_rate 0.62 < 0.8"
    assert incident.slice == {"language": "de,es,fr"}
    assert incident.slice_key == "language=de,es,fr"
    assert (incident.source, incident.impact_started_source) == ("ml", "source")
    assert incident.impact_started_at == ago(hours=3)
    assert incident.detected_at == ago(hours=1, minutes=30)
    assert incident.acknowledged_at == ago(hours=1, minutes=20)
    assert incident.mitigated_at == ago(minutes=30)
    assert incident.resolved_at is None
    mitigation = [e for e in store.list_timeline(session, seeded.chatbot) if e.kind == "mitigated"]
    assert [e.text for e in mitigation] == ["routed language=de,es,fr to the manual-review queue"]
    # 35% of the catalog's 1,800 sessions/h are in German, Spanish or French: 630/h.
    assert incident.impact == {
        "model": "conversion",
        "currency": "EUR",
        "inputs": {"delta_rate": [0.05, 0.1], "volume_per_hour": [630, 630],
                   "value_per_unit": [6.5, 6.5]},
    }  # fmt: skip
    # 0.05–0.1 × 630/h × €6.50 × 2.5 h (impact start → mitigation) = €511.875–€1,023.75
    figure = current_estimate(incident, now=NOW)
    assert figure is not None and figure.total == Range(511.875, 1023.75)


def test_a_second_seed_finds_the_incidents_and_creates_nothing(seeded, engine, session):
    incidents, entries = count(session, Incident), count(session, TimelineEntry)
    session.rollback()  # end the read, so SQLite lets the seed write
    again = seed(engine, now=NOW + timedelta(days=1), catalog=SHIPPED)
    assert again == Seeded(loan_default=1, recsys=2, chatbot=3, created=False)
    assert (count(session, Incident), count(session, TimelineEntry)) == (incidents, entries)


def test_the_same_now_gives_the_same_data(seeded, session, tmp_path):
    other = build_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate.upgrade(other)
    try:
        seed(other, now=NOW, catalog=SHIPPED)
        with Session(other) as copy:
            for ref in (1, 2, 3):
                assert facts(copy, ref) == facts(session, ref)
    finally:
        other.dispose()


def facts(session: Session, ref: int) -> tuple[object, ...]:
    incident = store.get_incident(session, ref)
    fields = incident.model_dump(exclude={"slack_channel", "slack_card_ts"})
    timeline = [(e.at, e.recorded_at, e.kind, e.actor, e.text, json.dumps(e.data, sort_keys=True))
                for e in store.list_timeline(session, ref)]  # fmt: skip
    return fields, timeline


def test_impact_inputs_follow_the_catalog_given(engine, session):
    catalog = Catalog(models={
        "loan-default": {"impact": {"model": "credit", "currency": "GBP", "approvals_per_day": 100,
                                    "delta_pd": 0.02, "lgd": 0.5, "ead": 1000}},
        "recsys": {"impact": {"model": "conversion", "delta_rate": 0.01, "volume_per_hour": 1000,
                              "value_per_unit": 2}},
        "chatbot": {"impact": {"model": "conversion", "delta_rate": 0.1, "volume_per_hour": 1000,
                               "value_per_unit": 5}},
    })  # fmt: skip
    seeded = seed(engine, now=NOW, catalog=catalog)
    loan = store.get_incident(session, seeded.loan_default).impact or {}
    assert loan["currency"] == "GBP" and loan["inputs"]["approvals_per_day"] == [100, 100]
    recsys = store.get_incident(session, seeded.recsys).impact or {}
    assert recsys["currency"] == "EUR" and recsys["inputs"]["volume_per_hour"] == [100, 100]
    chatbot = store.get_incident(session, seeded.chatbot).impact or {}
    assert chatbot["inputs"]["volume_per_hour"] == [350, 350]


def test_a_catalog_without_a_scenario_model_is_refused_before_anything_is_written(engine, session):
    catalog = Catalog(models={"loan-default": SHIPPED.models["loan-default"]})
    with pytest.raises(NotFound, match="no impact defaults for model 'recsys'"):
        seed(engine, now=NOW, catalog=catalog)
    assert count(session, Incident) == 0


def test_without_a_catalog_the_runbooks_dir_one_is_used(engine, session, monkeypatch, tmp_path):
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    text = (bundled_dir("runbooks") / "catalog.yaml").read_text()
    (runbooks / "catalog.yaml").write_text(
        text.replace("volume_per_hour: 1800", "volume_per_hour: 2000")
    )
    monkeypatch.setenv("INCIDENTS_RUNBOOKS_DIR", str(runbooks))
    seeded = seed(engine, now=NOW)
    chatbot = store.get_incident(session, seeded.chatbot).impact or {}
    assert chatbot["inputs"]["volume_per_hour"] == [700, 700]  # 2,000 × 0.35


def test_the_drift_alert_is_shaped_like_the_captured_alertmanager_webhook():
    captured = load("alertmanager/webhook_v4_firing_no_generator_url.json")
    sent = json.loads(drift_alert_body(ago(hours=2)))
    assert sent.keys() == captured.keys()
    assert sent["alerts"][0].keys() == captured["alerts"][0].keys()
    assert sent["alerts"][0]["startsAt"] == "2026-11-25T10:00:00Z"


def test_incidents_demo_prints_the_three_incidents_once(database_url):
    env = {"INCIDENTS_DATABASE_URL": database_url, "COLUMNS": "300",
           "INCIDENTS_PUBLIC_URL": "https://incidents.example.com"}  # fmt: skip
    first = CliRunner().invoke(app, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0] == "seeded the demo incidents:"
    assert [line.split()[:3] for line in lines[1:]] == [
        ["INC-1", "SEV2", "acknowledged"], ["INC-2", "SEV3", "resolved"],
        ["INC-3", "SEV2", "mitigated"],
    ]  # fmt: skip
    assert lines[2].endswith("https://incidents.example.com/api/incidents/INC-2/summary.md")
    second = CliRunner().invoke(app, ["demo"], env=env)
    assert second.exit_code == 0
    assert second.output.splitlines()[0] == "the demo data is already there:"
    assert second.output.splitlines()[1:] == lines[1:]


def test_incidents_demo_needs_a_migrated_database(tmp_path: Path):
    env = {"INCIDENTS_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    result = CliRunner().invoke(app, ["demo"], env=env)
    assert result.exit_code == 1
    assert "run `incidents db upgrade`" in result.output
