"""Shared Slack fixtures: a fake Slack (with a stakeholder channel), the app and a worker on
a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.outbox.runtime import build_worker
from tests.fake_slack import TOKEN, fake_slack
from tests.fakes import FrozenClock
from tests.slack.test_commands import SECRET, SlackClient

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def stakeholder_slack(engine, database_url):
    with fake_slack() as (url, workspace):
        workspace.channels["C0EXECS"] = "exec-updates"  # checkout's stakeholder channel
        settings = Settings(database_url=database_url, slack_api_url=url, slack_bot_token=TOKEN,
                            slack_signing_secret=SECRET)  # fmt: skip
        clock = FrozenClock(T0)
        app = create_app(settings, engine=engine, clock=clock, run_worker=False)
        worker = build_worker(engine, settings=settings, clock=clock)
        with TestClient(app) as client:
            yield SlackClient(client), client, workspace, worker, clock
