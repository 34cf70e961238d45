"""``/incident summary`` posts the Slack version to the stakeholder channel (from the
catalog, else the setting); ``/incident impact`` opens a form prefilled from the catalog,
redraws it for another model and saves it with errors under the right field."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlmodel import Session, select

from incidents.store.models import Incident, OutboxMessage, TimelineEntry
from tests.slack.test_commands import text_of
from tests.slack.test_five_whys_flow import submit, text


def drain(worker) -> None:
    while worker.run_once():
        pass


def test_summary_goes_to_the_catalog_stakeholder_channel_money_first(stakeholder_slack, engine):
    slack_client, api, workspace, worker, clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Checkout errors", "severity": "SEV2",
                                     "service": "checkout",
                                     "impact_started_at": "2026-11-25T10:00:00Z"})  # fmt: skip
    inputs = {"affected_share": 0.1, "volume_per_hour": 12000, "value_per_unit": 45}
    api.put("/api/incidents/1/impact",
            json={"model": "generic", "currency": "EUR", "inputs": inputs})  # fmt: skip
    answer = text_of(slack_client.command("summary #1"))
    # 10% × 12,000/h × €45 × 2 h = €108,000
    assert answer == "The INC-1 summary (€108,000) is on its way to <#C0EXECS>."
    drain(worker)
    (posted,) = workspace.messages["C0EXECS"]
    blocks = posted["blocks"]
    blocks = blocks if isinstance(blocks, list) else json.loads(blocks)
    first, impact = (b["text"]["text"] for b in blocks[:2])
    assert first == ":bar_chart: *INC-1 stakeholder update: Checkout errors*"
    assert impact.startswith("*Business impact:* INC-1 on checkout is putting at risk an "
                             "estimated €108,000 so far; 2,400 transactions affected.")  # fmt: skip
    assert "10% affected × 12,000/h × €45 each × 2 h = €108,000" in impact
    assert "€108,000" in posted["text"], "the notification text leads with the money too"
    with Session(engine) as session:
        kinds = [e.kind for e in session.exec(select(TimelineEntry)).all()]
    assert "summary_posted" in kinds


def test_summary_without_a_stakeholder_channel_says_where_to_set_one(stakeholder_slack, engine):
    slack_client, api, _workspace, _worker, _clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Odd", "model": "loan-default"})
    answer = text_of(slack_client.command("summary INC-1"))
    assert "no stakeholder channel for loan-default" in answer
    assert "INCIDENTS_SLACK_STAKEHOLDER_CHANNEL" in answer
    with Session(engine) as session:
        assert session.exec(select(OutboxMessage).where(
            OutboxMessage.topic == "slack.post_message")).all() == []  # fmt: skip


def _inputs(view: dict[str, Any]) -> dict[str, str]:
    """Return block id → prefilled text of a form's text inputs."""
    return {b["block_id"]: b["element"].get("initial_value", "")
            for b in view["blocks"] if b["type"] == "input"}  # fmt: skip


def test_impact_form_is_prefilled_from_the_catalog_and_saves(stakeholder_slack, engine):
    slack_client, api, workspace, _worker, _clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Risky approvals", "model": "loan-default",
                                     "impact_started_at": "2026-11-25T06:00:00Z"})  # fmt: skip
    assert slack_client.command("impact #1").status_code == 200
    (view,) = workspace.views
    assert view["private_metadata"] == "INC-1|credit"
    assert _inputs(view) == {"impact-currency": "EUR", "impact-input-approvals_per_day": "2400",
                             "impact-input-delta_pd": "0.01..0.03", "impact-input-lgd": "0.45",
                             "impact-input-ead": "12000"}  # fmt: skip
    bad = {**{k: text(v) for k, v in _inputs(view).items()}, "impact-input-lgd": text("1.5")}
    refused = submit(slack_client, view, bad)
    assert refused["response_action"] == "errors"
    assert list(refused["errors"]) == ["impact-input-lgd"]
    good = {**{k: text(v) for k, v in _inputs(view).items()}, "impact-input-ead": text("10,000")}
    assert submit(slack_client, view, good) == {}
    with Session(engine) as session:
        stored = session.get(Incident, 1)
        assert stored is not None and stored.impact is not None
    assert stored.impact["inputs"]["ead"] == [10000.0, 10000.0]
    assert stored.impact["inputs"]["delta_pd"] == [0.01, 0.03]
    # 2,400/day × 1–3% × 45% × €10,000 × 0.25 days
    summary = api.get("/api/incidents/1/summary.json").json()
    assert summary["money"]["low"] == pytest.approx(27_000) and summary["money"]["high"] == (
        pytest.approx(81_000)
    )


def test_choosing_another_model_redraws_the_form(stakeholder_slack, engine):
    slack_client, api, workspace, _worker, _clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "Checkout errors", "service": "checkout"})
    slack_client.command("impact #1")
    (view,) = workspace.views
    assert view["private_metadata"] == "INC-1|generic"
    payload = {"type": "block_actions", "user": {"id": "U0ALICE"}, "team": {"id": "T1"},
               "trigger_id": "1.2.3", "view": {**view, "id": "V1", "hash": "h1",
                                               "state": {"values": {}}},
               "actions": [{"action_id": "impact-model", "block_id": "impact-model",
                            "type": "static_select", "action_ts": "1.2",
                            "selected_option": {"value": "conversion"}}]}  # fmt: skip
    response = slack_client.post("payload=" + quote(json.dumps(payload)),
                                 content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 200
    (redrawn,) = workspace.views
    assert redrawn["private_metadata"] == "INC-1|conversion"
    assert set(_inputs(redrawn)) == {"impact-currency", "impact-input-delta_rate",
                                     "impact-input-volume_per_hour",
                                     "impact-input-value_per_unit"}  # fmt: skip
    assert _inputs(redrawn)["impact-input-delta_rate"] == "", "no catalog default for this model"


def test_impact_modal_grammar_needs_an_incident_outside_its_channel(stakeholder_slack):
    slack_client, _api, _workspace, _worker, _clock = stakeholder_slack
    answer = slack_client.command("impact")  # a form verb: Slack shows the plain-text answer
    assert answer.status_code == 200 and "name the incident" in answer.text


def test_cadence_next_update_follows_the_setting(stakeholder_slack):
    _slack_client, api, _workspace, _worker, clock = stakeholder_slack
    api.post("/api/incidents", json={"title": "x", "severity": "SEV1"})
    clock.advance(minutes=1)
    body = api.get("/api/incidents/1/summary.json").json()
    expected = clock.now() + timedelta(minutes=30)
    assert body["next_update_at"] == expected.isoformat().replace("+00:00", "Z")
