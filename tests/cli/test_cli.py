"""The `incidents` command as a user runs it: help, migrations, lifecycle, one-line errors."""

from __future__ import annotations

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from incidents.cli import app
from incidents.store import migrate
from incidents.store.models import Incident

runner = CliRunner()

COMMANDS = [
    [],
    ["serve"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "current"],
    ["declare"],
    ["list"],
    ["show"],
    ["ack"],
    ["mitigate"],
    ["resolve"],
    ["reopen"],
    ["note"],
]


def run(args, url, **env):
    environment = {"INCIDENTS_DATABASE_URL": url, "COLUMNS": "200", **env}
    return runner.invoke(app, args, env=environment)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "incidents")
def test_every_command_has_help(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_db_upgrade_current_downgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    head = migrate.head_revision()
    assert "revision: empty" in run(["db", "current"], url).output
    upgraded = run(["db", "upgrade"], url)
    assert upgraded.exit_code == 0
    assert f"revision: {head} (at head)" in upgraded.output
    assert f"{head} (at head)" in run(["db", "current"], url).output
    stepped = run(["db", "downgrade"], url)
    assert stepped.exit_code == 0
    assert f"(head is {head})" in stepped.output
    downgraded = run(["db", "downgrade", "base"], url)
    assert downgraded.exit_code == 0
    assert f"revision: empty (head is {head})" in downgraded.output


def test_commands_on_an_unmigrated_database_say_what_to_run(tmp_path):
    result = run(["list"], f"sqlite:///{tmp_path / 'new.db'}")
    assert result.exit_code == 1
    assert "run `incidents db upgrade`" in result.output


def test_lifecycle_through_the_cli(database_url, engine):
    declared = run(
        ["declare", "Checkout errors", "--sev", "2", "--service", "checkout",
         "--impact-started", "30m ago", "--detected", "20m ago", "--actor", "alice"],
        database_url,
    )  # fmt: skip
    assert declared.exit_code == 0, declared.output
    assert "INC-1 SEV2 triggered" in declared.output
    assert "time to detect       10m" in declared.output

    acked = run(["ack", "INC-1", "--at", "15m ago", "--actor", "bob"], database_url)
    assert acked.exit_code == 0, acked.output
    assert "acknowledged" in acked.output
    assert "time to acknowledge  5m" in acked.output
    assert (
        run(["mitigate", "1", "--at", "10m ago", "--note", "rolled back"], database_url).exit_code
        == 0
    )
    resolved = run(["resolve", "1"], database_url)
    assert resolved.exit_code == 0
    assert "time to mitigate     20m" in resolved.output

    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        assert incident.status == "resolved"
        assert incident.acknowledged_by == "bob"
        assert incident.impact_started_source == "human"
        assert incident.mitigated_at is not None and incident.resolved_at is not None
        assert incident.mitigated_at < incident.resolved_at

    listed = run(["list", "--status", "all"], database_url)
    assert "INC-1" in listed.output and "resolved" in listed.output
    assert "no incidents match" in run(["list"], database_url).output
    shown = run(["show", "INC-1"], database_url)
    for kind in ("declared", "acknowledged", "mitigated", "resolved", "rolled back"):
        assert kind in shown.output


def test_illegal_transition_is_one_line_and_non_zero(database_url):
    run(["declare", "x"], database_url)
    run(["resolve", "1"], database_url)
    result = run(["ack", "1"], database_url)
    assert result.exit_code == 1
    assert result.output.strip() == "error: cannot acknowledge: the incident is resolved"


def test_unparseable_time_is_one_line(database_url):
    run(["declare", "x"], database_url)
    result = run(["ack", "1", "--at", "whenever"], database_url)
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot read 'whenever'")
    assert len(result.output.strip().splitlines()) == 1


def test_note_and_unknown_incident(database_url):
    run(["declare", "x"], database_url)
    assert run(["note", "1", "paged the DBA"], database_url).exit_code == 0
    assert "paged the DBA" in run(["show", "1"], database_url).output
    missing = run(["show", "INC-404"], database_url)
    assert missing.exit_code == 1
    assert missing.output.strip() == "error: no incident INC-404"


def test_invalid_setting_stops_with_one_line(tmp_path):
    result = run(["list"], f"sqlite:///{tmp_path / 'x.db'}", INCIDENTS_DEFAULT_TIMEZONE="Mars/X")
    assert result.exit_code == 2
    assert result.output.startswith("error: invalid setting INCIDENTS_DEFAULT_TIMEZONE:")
    assert len(result.output.strip().splitlines()) == 1


def test_serve_refuses_a_public_address_without_tokens(tmp_path):
    result = run(["serve", "--host", "0.0.0.0"], f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 1
    assert "INCIDENTS_API_TOKEN, INCIDENTS_WEBHOOK_TOKEN" in result.output


def test_serve_refuses_several_workers_on_sqlite(tmp_path):
    result = run(["serve", "--workers", "2"], f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output


def test_database_errors_are_one_line(tmp_path):
    result = run(["db", "upgrade"], f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    assert result.exit_code == 1
    assert result.output.startswith("error: database error: unable to open database file")
