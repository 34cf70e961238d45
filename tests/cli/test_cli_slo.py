"""`incidents slo check` and `incidents slo status` on real files and a migrated database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session
from typer.testing import CliRunner

from incidents.cli import app as cli
from incidents.store import slos as store


def run(args: list[str], database_url: str):
    env = {"INCIDENTS_DATABASE_URL": database_url, "COLUMNS": "200"}
    return CliRunner().invoke(cli, args, env=env)


def test_check_accepts_the_shipped_slos(database_url):
    result = run(["slo", "check"], database_url)
    assert result.exit_code == 0 and "3 SLOs, OK" in result.stdout


def test_check_names_the_line_of_each_mistake(database_url, tmp_path):
    bad = tmp_path / "slos.yaml"
    bad.write_text(
        "slos:\n"
        "  - name: a\n    service: x\n    objective: 1.5\n    window: 28d\n"
        "  - name: b\n    model: y\n    objective: 0.99\n    window: soon\n"
        "  - name: c\n    service: z\n    objective: 0.99\n    window: 7d\n    colour: red\n",
        encoding="utf-8",
    )
    result = run(["slo", "check", "--path", str(bad)], database_url)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(":line 4: slos[0].objective: objective" in line for line in lines), lines
    assert any(":line 9: slos[1].window" in line for line in lines), lines
    assert any(":line 14: slos[2].colour: unknown field" in line for line in lines), lines


def test_status_shows_budget_and_burn(database_url, engine):
    now = datetime.now(UTC)
    with Session(engine) as session:
        rows = [(store.bucket_of(now - timedelta(minutes=m + 1)), 990, 1000) for m in range(60)]
        store.upsert_buckets(session, "recsys-availability", rows)
        session.commit()
    result = run(["slo", "status", "recsys-availability"], database_url)
    assert result.exit_code == 0, result.stdout
    # 1% errors against a 0.5% budget: burn 2 over the last hour, all of it in the window
    assert "recsys-availability" in result.stdout and "2.00" in result.stdout
    missing = run(["slo", "status", "nope"], database_url)
    assert missing.exit_code == 1 and "no SLO 'nope'" in missing.stderr
