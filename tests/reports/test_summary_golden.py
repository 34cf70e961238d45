"""The three DESIGN §1 scenarios (seeded by ``incidents demo``) as stakeholder summaries in
Markdown, HTML and Slack: golden files, hand-checked money figures, no invented ETA, and a
Slack version that fits one message.

Set INCIDENTS_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change, then
read the diff.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from incidents.config import Settings
from incidents.demo import seed
from incidents.flows import summary
from incidents.reports.render import SUMMARY_FORMATS, render_summary
from incidents.reports.summary_context import Summary
from incidents.slack.summary_blocks import MAX_BLOCKS, MAX_FALLBACK, MAX_SECTION, summary_message
from tests.fakes import FrozenClock

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("INCIDENTS_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SCENARIOS = ("loan_default", "recsys", "chatbot")


@pytest.fixture
def summaries(engine, database_url) -> dict[str, Summary]:
    seeded = seed(engine, now=NOW)
    settings = Settings(database_url=database_url)
    found = {}
    with Session(engine) as session:
        for name in SCENARIOS:
            found[name] = summary.summary(getattr(seeded, name), session=session,
                                          clock=FrozenClock(NOW), cadence=settings.cadence,
                                          public_url="https://incidents.example.com")  # fmt: skip
    return found


def rendered(found: Summary, fmt: str) -> str:
    templates = Settings().templates_dir
    return render_summary(found, templates_dir=templates, fmt=fmt)


@pytest.mark.parametrize("fmt", SUMMARY_FORMATS)
@pytest.mark.parametrize("name", SCENARIOS)
def test_summary_matches_golden_file(summaries, name: str, fmt: str) -> None:
    text = rendered(summaries[name], fmt)
    golden = GOLDEN_DIR / f"summary_{name}.{fmt}"
    if UPDATE_GOLDEN:
        golden.write_bytes(text.encode("utf-8"))
    assert golden.exists(), f"{golden.name} is missing: run with INCIDENTS_UPDATE_GOLDEN=1"
    assert text == golden.read_bytes().decode("utf-8")


# Hand-computed from the demo inputs (README "Demo data"):
# loan-default: 2,400/day × 1–3% × 45% × €12,000 = €129,600–€388,800 a day; 6 h = ¼ day
# recsys: 0.2–0.6% × 25,000/h × €1.20 = €60–€180 an hour; 40 minutes
# chatbot: 5–10% × 630/h × €6.50 = €204.75–€409.50 an hour; 2.5 h to mitigation
EXPECTED = {
    "loan_default": (32_400, 97_200, "€32,400–€97,200", True),
    "recsys": (40, 120, "€40–€120", False),
    "chatbot": (511.875, 1023.75, "€512–€1,024", False),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_summary_leads_with_a_checkable_money_figure(summaries, name: str) -> None:
    found = summaries[name]
    low, high, text, ongoing = EXPECTED[name]
    assert found.money is not None
    assert found.money.estimate.total.low == pytest.approx(low)
    assert found.money.estimate.total.high == pytest.approx(high)
    assert found.money.text == text and found.money.estimate.ongoing is ongoing
    assert found.money.formula_line.endswith(f"= {text}")
    for fmt in SUMMARY_FORMATS:
        body = rendered(found, fmt)
        first_money = body.find(text)
        assert 0 < first_money < body.find("Status"), f"{fmt}: money comes before status"


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_summary_invents_an_eta(summaries, name: str) -> None:
    found = summaries[name]
    assert found.eta == ("resolved" if found.status == "resolved" else "unknown")
    if found.status != "resolved":
        assert found.next_update_at is not None and found.prevention == []
    else:
        assert found.next_update_at is None and [p.owner for p in found.prevention]


@pytest.mark.parametrize("name", SCENARIOS)
def test_slack_summary_fits_one_message(summaries, name: str) -> None:
    message = summary_message(rendered(summaries[name], "slack"))
    assert 0 < len(message["blocks"]) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION for b in message["blocks"])
    assert 0 < len(message["text"]) <= MAX_FALLBACK
    assert not any(b["text"]["text"].endswith("…") for b in message["blocks"]), "nothing cut"
