"""The service catalog: the shipped one is valid; mistakes are reported at their line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from incidents.catalog import check
from incidents.cli import app
from incidents.resources import bundled_dir

SHIPPED = bundled_dir("runbooks") / "catalog.yaml"


def test_the_shipped_catalog_is_valid_and_has_the_scenarios():
    catalog, problems = check(SHIPPED)
    assert problems == []
    assert {"loan-default", "recsys", "chatbot"} <= set(catalog.models)
    credit = catalog.impact_defaults(service=None, model="loan-default") or {}
    assert credit["model"] == "credit"
    generic = catalog.impact_defaults(service="checkout", model="unknown") or {}
    assert generic["model"] == "generic"
    assert catalog.impact_defaults(service=None, model=None) is None


BROKEN = """\
services:
  checkout:
    owner: payments
    colour: blue
    impact:
      model: generic
      affected_share: 1.5
      volume_per_hour: 10
      value_per_unit: 2
models:
  fraud:
    impact:
      currency: EUR
teams: {}
"""


def test_mistakes_point_at_their_lines(tmp_path: Path):
    target = tmp_path / "catalog.yaml"
    target.write_text(BROKEN)
    _, problems = check(target)
    found = {(p.line, p.where) for p in problems}
    assert (4, "services.checkout.colour") in found
    assert (7, "services.checkout.impact") in found
    assert (13, "models.fraud.impact") in found
    assert (14, "teams") in found
    result = CliRunner().invoke(app, ["catalog", "check", "--path", str(target)])
    assert result.exit_code == 1
    assert f"{target}:line 7: services.checkout.impact: affected_share" in result.output


def test_invalid_yaml_and_the_cli_on_the_shipped_catalog(tmp_path: Path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("services:\n  x: [1, 2\n")
    (problem,) = check(bad)[1]
    assert "not valid YAML" in problem.message
    ok = CliRunner().invoke(app, ["catalog", "check", "--path", str(SHIPPED)])
    assert ok.exit_code == 0 and "2 services, 3 models, OK" in ok.output
