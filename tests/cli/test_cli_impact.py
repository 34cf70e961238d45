"""`incidents impact`: inputs as numbers or ranges, catalog defaults with overrides, the
figure printed with its formula, and bad input refused in one line with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from incidents.cli import app
from incidents.store import incidents as store
from incidents.store.models import Incident

runner = CliRunner()

CATALOG = """\
models:
  loan-default:
    impact:
      model: credit
      currency: EUR
      approvals_per_day: 2400
      delta_pd: [0.01, 0.03]
      lgd: 0.45
      ead: 12000
"""


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    """Return a runbooks directory holding a one-model catalog (not the shipped one)."""
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "catalog.yaml").write_text(CATALOG)
    return folder


def run(args, url, runbooks):
    env = {"INCIDENTS_DATABASE_URL": url, "INCIDENTS_RUNBOOKS_DIR": str(runbooks),
           "COLUMNS": "200"}  # fmt: skip
    return runner.invoke(app, args, env=env)


def declare_mitigated(url, runbooks, *extra):
    """Declare INC-1 with impact from 06:00 to 12:00 (6 h), so figures do not move."""
    declared = run(["declare", "Risky approvals", "--sev", "2", *extra,
                    "--impact-started", "2025-03-03T06:00:00Z",
                    "--detected", "2025-03-03T08:00:00Z"], url, runbooks)  # fmt: skip
    assert declared.exit_code == 0, declared.output
    mitigated = run(["mitigate", "INC-1", "--at", "2025-03-03T12:00:00Z"], url, runbooks)
    assert mitigated.exit_code == 0, mitigated.output


def stored(engine) -> tuple[dict[str, Any] | None, list[str]]:
    with Session(engine) as session:
        incident = session.get(Incident, 1)
        assert incident is not None
        return incident.impact, [e.kind for e in store.list_timeline(session, 1)]


def test_ranges_give_a_range_and_the_formula(database_url, engine, runbooks):
    declare_mitigated(database_url, runbooks, "--service", "checkout")
    result = run(["impact", "INC-1", "--model", "generic", "--currency", "usd",
                  "--set", "affected_share=0.1..0.2", "--set", "volume_per_hour=1000",
                  "--set", "value_per_unit=50", "--actor", "alice"],
                 database_url, runbooks)  # fmt: skip
    assert result.exit_code == 0, result.output
    # 10–20% × 1,000/h × $50 = $5,000–$10,000 an hour, for 6 h
    assert result.output.splitlines() == [
        "INC-1 impact (generic): $30,000–$60,000 in total (6h of impact)",
        "rate: $5,000–$10,000 per hour",
        "formula: affected share × volume per hour × value per unit × hours of impact",
        "inputs: affected_share=0.1..0.2 volume_per_hour=1000 value_per_unit=50",
    ]
    impact, kinds = stored(engine)
    assert impact == {
        "model": "generic",
        "currency": "USD",
        "inputs": {"affected_share": [0.1, 0.2], "volume_per_hour": [1000, 1000],
                   "value_per_unit": [50, 50]},
    }  # fmt: skip
    assert kinds[-1] == "impact_set"
    with Session(engine) as session:
        assert store.list_timeline(session, 1)[-1].actor == "alice"


def test_from_catalog_with_an_override_then_one_more_change(database_url, engine, runbooks):
    declare_mitigated(database_url, runbooks, "--model", "loan-default")
    result = run(["impact", "1", "--from-catalog", "--set", "delta_pd=0.02"],
                 database_url, runbooks)  # fmt: skip
    assert result.exit_code == 0, result.output
    # 2,400 approvals/day × ΔPD 0.02 × LGD 0.45 × EAD €12,000 = €259,200/day, for ¼ day
    assert result.output.splitlines()[0] == "INC-1 impact (credit): €64,800 in total (6h of impact)"
    assert "inputs: approvals_per_day=2400 delta_pd=0.02 lgd=0.45 ead=12000" in result.output
    impact, _ = stored(engine)
    assert impact is not None and impact["currency"] == "EUR"

    # Without --from-catalog, --set changes one input of what is stored: LGD 0.5 → €72,000.
    changed = run(["impact", "1", "--set", "lgd=0.5"], database_url, runbooks)
    assert changed.exit_code == 0, changed.output
    assert changed.output.startswith("INC-1 impact (credit): €72,000 in total")
    shown = run(["impact", "1"], database_url, runbooks)
    assert shown.output == changed.output


def test_from_catalog_alone_takes_the_defaults(database_url, runbooks):
    declare_mitigated(database_url, runbooks, "--model", "loan-default")
    result = run(["impact", "1", "--from-catalog"], database_url, runbooks)
    assert result.exit_code == 0, result.output
    # 2,400 × ΔPD 1–3% × 0.45 × €12,000 = €129,600–€388,800 a day, for ¼ day
    assert result.output.splitlines()[:2] == [
        "INC-1 impact (credit): €32,400–€97,200 in total (6h of impact)",
        "rate: €5,400–€16,200 per hour",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-catalog", "--set", "delta_pd=-0.01"],
         "delta_pd: need 0 ≤ low ≤ high (got -0.01, -0.01)"),
        (["--from-catalog", "--set", "delta_pd=0.03..0.01"],
         "delta_pd: need 0 ≤ low ≤ high (got 0.03, 0.01)"),
        (["--model", "vibes", "--set", "x=1"],
         "unknown impact model 'vibes': use generic, credit, conversion"),
        (["--from-catalog", "--set", "delta_pd=0.01..x"],
         "--set 'delta_pd=0.01..x': use NAME=NUMBER or NAME=LOW..HIGH, e.g. delta_pd=0.01..0.03"),
        (["--from-catalog", "--set", "delta_pd"],
         "--set 'delta_pd': use NAME=NUMBER or NAME=LOW..HIGH, e.g. delta_pd=0.01..0.03"),
        (["--from-catalog", "--set", "delta_dp=0.02"],
         "--set delta_dp: not an input of the credit model (use approvals_per_day, delta_pd, "
         "lgd, ead)"),
        (["--from-catalog", "--currency", "euro"],
         "currency: use a three-letter code such as EUR or USD"),
        (["--set", "lgd=0.4"], "--model: give generic, credit or conversion, or --from-catalog"),
        (["--model", "credit", "--set", "delta_pd=0.02"],
         "approvals_per_day: required for this impact model"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(database_url, engine, runbooks, args, message):
    declare_mitigated(database_url, runbooks, "--model", "loan-default")
    _, before = stored(engine)
    result = run(["impact", "INC-1", *args], database_url, runbooks)
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {message}"
    assert stored(engine) == (None, before)


def test_from_catalog_without_defaults_says_what_to_do(database_url, engine, runbooks):
    declare_mitigated(database_url, runbooks, "--model", "fraud")
    missing = run(["impact", "1", "--from-catalog"], database_url, runbooks)
    assert missing.exit_code == 1
    assert missing.output.strip() == (
        f"error: no impact defaults in {runbooks / 'catalog.yaml'} for model 'fraud': "
        "give --model and --set instead"
    )
    run(["declare", "Nameless"], database_url, runbooks)
    nameless = run(["impact", "2", "--from-catalog"], database_url, runbooks)
    assert (
        nameless.output.strip()
        == "error: INC-2 names no model or service: give --model and --set instead"
    )
    assert run(["impact", "INC-9", "--from-catalog"], database_url, runbooks).output.strip() == (
        "error: no incident INC-9"
    )
    assert stored(engine)[0] is None


def test_an_incident_without_inputs_says_so(database_url, runbooks):
    declare_mitigated(database_url, runbooks)
    result = run(["impact", "1"], database_url, runbooks)
    assert result.exit_code == 0
    assert result.output.strip() == "INC-1: no impact estimate yet (give --set or --from-catalog)"


@pytest.mark.parametrize("command", ["impact", "demo"])
def test_the_new_commands_have_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
