"""The guided 5 Whys in Slack, signed end to end: start, validation, blame nudge, resume
after a restart, root cause, action items, finish with a digest in the incident channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.outbox.runtime import build_worker
from incidents.store.models import Postmortem, PostmortemAction
from tests.fake_slack import TOKEN, fake_slack
from tests.fakes import FrozenClock
from tests.slack.test_commands import SECRET, SlackClient


def submit(client: SlackClient, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Submit `view` (as Slack would, with its private_metadata) with the given inputs."""
    sent = {**view, "id": "V1", "state": {"values": values}}
    payload = {"type": "view_submission", "user": {"id": "U0ALICE"}, "team": {"id": "T1"},
               "view": sent}  # fmt: skip
    response = client.post("payload=" + quote(json.dumps(payload)),
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def text(value: str) -> dict[str, Any]:
    return {"value": {"value": value}}


def ticked() -> dict[str, Any]:
    return {"value": {"selected_options": [{"value": "yes"}]}}


def test_a_whole_postmortem_from_slack(engine, database_url):
    with fake_slack() as (url, workspace):
        settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                            slack_signing_secret=SECRET)  # fmt: skip
        clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        worker = build_worker(engine, settings=settings, clock=clock)

        def app_client() -> TestClient:
            return TestClient(create_app(settings, engine=engine, clock=clock, run_worker=False))

        with app_client() as http:
            slack = SlackClient(http)
            slack.command("declare sev2 Loan approvals dropped")
            while worker.run_once():
                pass
            slack.command("postmortem #1")
            problem = workspace.views[-1]
            assert problem["callback_id"] == "five-whys-problem"
            blank = submit(slack, problem, {"five-whys-problem-text": text("  ")})
            assert blank["response_action"] == "errors"
            why1 = submit(slack, problem, {"five-whys-problem-text": text("Approvals fell 30%")})[
                "view"
            ]
            assert "Why 1: Why did “Approvals fell 30%” happen?" in json.dumps(
                why1, ensure_ascii=False
            )
            early = submit(slack, why1, {"five-whys-answer": text("Scores rose"),
                                         "five-whys-root-cause": ticked()})  # fmt: skip
            assert (
                early["response_action"] == "errors" and "five-whys-root-cause" in early["errors"]
            )
            nudged = submit(slack, why1, {"five-whys-answer": text("Bob forgot the schema")})[
                "view"
            ]
            assert "what in the system" in json.dumps(nudged)
            why2 = submit(slack, nudged, {"five-whys-answer": text("Bob forgot the schema")})[
                "view"
            ]
            assert "Why 2" in why2["title"]["text"]

        with app_client() as http:  # a restart: the postmortem resumes where it stopped
            slack = SlackClient(http)
            slack.command("postmortem #1")
            resumed = workspace.views[-1]
            assert resumed["title"]["text"] == "Why 2"
            why3 = submit(slack, resumed, {"five-whys-answer": text("No schema check in CI")})[
                "view"
            ]
            actions = submit(slack, why3, {"five-whys-answer": text("CI has no contract tests"),
                                           "five-whys-root-cause": ticked()})["view"]  # fmt: skip
            assert actions["callback_id"] == "five-whys-actions"
            more = submit(slack, actions, {
                "five-whys-action-text": text("Add contract tests to CI"),
                "five-whys-action-owner": {"value": {"selected_user": "U0BOB"}},
                "five-whys-action-due": {"value": {"selected_date": "2026-12-15"}},
                "five-whys-action-why": {"value": {"selected_option": {"value": "3"}}},
            })["view"]  # fmt: skip
            assert "1 action item(s)" in json.dumps(more)
            done = submit(slack, more, {"five-whys-finish": ticked()})
            assert done == {"response_action": "clear"}

        with Session(engine) as session:
            postmortem = session.exec(select(Postmortem)).one()
            assert (postmortem.status, postmortem.root_cause_position) == ("done", 3)
            (action,) = session.exec(select(PostmortemAction)).all()
            assert (action.owner, str(action.due), action.why_position) == (
                "U0BOB",
                "2026-12-15",
                3,
            )
        while worker.run_once():
            pass
        channel = next(c for c, n in workspace.channels.items() if n.startswith("inc-1"))
        digest = workspace.messages[channel][-1]["text"]
        assert "Postmortem for INC-1 is done" in digest and "CI has no contract tests" in digest
        assert "/api/incidents/INC-1/postmortem.html" in digest
