"""`incidents replay`: a recorded payload into the database, or to a running server."""

from __future__ import annotations

import json

from sqlmodel import Session, func, select
from typer.testing import CliRunner

from incidents.cli import app
from incidents.store.models import AlertRecord, Incident
from tests.payloads import PAYLOADS
from tests.servers import running_server, server_env

runner = CliRunner()
TWO_ALERTS = str(PAYLOADS / "alertmanager" / "webhook_v4_firing_two_alerts.json")


def run(args, url, **env):
    return runner.invoke(app, args, env={"INCIDENTS_DATABASE_URL": url, **env})


def test_replay_into_the_database_twice_applies_once(database_url, engine):
    first = run(["replay", "alertmanager", TWO_ALERTS], database_url)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"alerts": 2, "incidents": [1], "duplicate": False}
    second = run(["replay", "alertmanager", TWO_ALERTS], database_url)
    assert json.loads(second.output)["duplicate"] is True
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Incident)).one() == 1
        assert session.exec(select(func.count()).select_from(AlertRecord)).one() == 2


def test_replay_errors_are_one_line(database_url, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"alerts": []}')
    result = run(["replay", "alertmanager", str(bad)], database_url)
    assert result.exit_code == 1
    assert result.output.strip() == "error: groupKey: required, a non-empty string"
    unknown = run(["replay", "nagios", str(bad)], database_url)
    assert unknown.exit_code == 1 and "unknown source 'nagios'" in unknown.output
    assert (
        run(["replay", "alertmanager", str(tmp_path / "missing.json")], database_url).exit_code == 2
    )


def test_replay_to_a_running_server(database_url, tmp_path):
    env = server_env(database_url, webhook_token="replay-token-1")
    with running_server(tmp_path, env) as url:
        sent = run(["replay", "alertmanager", TWO_ALERTS, "--url", url], database_url,
                   INCIDENTS_WEBHOOK_TOKEN="replay-token-1")  # fmt: skip
        assert sent.exit_code == 0, sent.output
        assert json.loads(sent.output)["incidents"] == [1]
        refused = run(["replay", "alertmanager", TWO_ALERTS, "--url", url, "--token", "wrong"],
                      database_url)  # fmt: skip
        assert refused.exit_code == 1
        assert "answered 401" in refused.output
