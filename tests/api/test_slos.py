"""SLOs through the API with a frozen clock: pushed counts, budget arithmetic, idempotent
minutes, burn alerts that open and resolve incidents on their own, and clear errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from incidents.store.models import Incident

SLO = "recsys-availability"  # objective 0.995 over 28 days (runbooks/slos.yaml)


def minutes(clock, count: int, *, total: int, bad: int, ago: int = 0) -> list[dict[str, Any]]:
    """Return one item per minute for the `count` minutes ending `ago` minutes before now."""
    end = clock.now() - timedelta(minutes=ago)
    return [{"at": (end - timedelta(minutes=m + 1)).isoformat(), "good": total - bad,
             "total": total} for m in range(count)]  # fmt: skip


def incidents(engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(Incident).order_by(col(Incident.id))).all()
        return [(i.group_key or "", i.severity, i.status) for i in rows]


def test_budget_arithmetic_and_idempotent_minutes(client, clock):
    # 27 days, one busy minute a day: 100,000 requests of which 200 failed
    items = [{"at": (clock.now() - timedelta(days=d, minutes=30)).isoformat(),
              "good": 99_800, "total": 100_000} for d in range(27)]  # fmt: skip
    first = client.post(f"/api/slos/{SLO}/events", json=items)
    assert first.status_code == 200 and first.json()["buckets"] == 27
    again = client.post(f"/api/slos/{SLO}/events", json=items)
    assert again.json()["buckets"] == 27
    body = client.get(f"/api/slos/{SLO}").json()
    budget = body["budget"]
    # allowed bad = 0.5% of 2,700,000 = 13,500; spent 5,400 → 40% consumed, 60% remaining
    assert (budget["total_events"], budget["bad_events"]) == (2_700_000, 5_400)
    assert budget["allowed_bad"] == pytest.approx(13_500)
    assert budget["consumed"] == pytest.approx(0.4) and budget["remaining"] == pytest.approx(0.6)
    assert budget["state"] == "healthy" and body["alert"]["firing"] is False
    assert body["window_days"] == 28 and body["sli"] == pytest.approx(0.998)


def test_a_fast_burn_opens_an_incident_and_recovery_resolves_it(client, engine, clock):
    # the last hour: 1,000 requests a minute, 10% failing = burn 20 over both 1h and 5m
    burning = client.post(f"/api/slos/{SLO}/events", json=minutes(clock, 60, total=1000, bad=100))
    alert = burning.json()["alert"]
    assert alert["firing"] is True and alert["severity"] == "SEV1"
    assert "13.44" in alert["reason"], "the 28-day threshold, derived, not 14.4"
    assert incidents(engine) == [(f"{SLO}|SEV1", "SEV1", "triggered")]

    clock.advance(minutes=6)
    recovered = client.post(f"/api/slos/{SLO}/events", json=minutes(clock, 6, total=1000, bad=0))
    assert recovered.json()["alert"]["severity"] == "SEV2", "the 6h/30m pair still burns"
    found = incidents(engine)
    assert found[0] == (f"{SLO}|SEV1", "SEV1", "resolved"), "5m window recovered: resolved"
    assert found[1] == (f"{SLO}|SEV2", "SEV2", "triggered")


def test_too_few_events_do_not_page(client, engine, clock):
    answer = client.post(f"/api/slos/{SLO}/events", json=minutes(clock, 5, total=10, bad=5))
    assert answer.json()["alert"]["firing"] is False
    assert "too few" in answer.json()["alert"]["reason"]
    assert incidents(engine) == []


def test_bad_pushes_are_refused_and_store_nothing(client, clock):
    now = clock.now()
    cases = [
        (SLO, [{"at": now.isoformat(), "good": 5, "total": 4}], 422, "good"),
        (SLO, [{"at": (now + timedelta(hours=1)).isoformat(), "good": 1, "total": 1}], 422, "at"),
        (SLO, [{"at": (now - timedelta(days=40)).isoformat(), "good": 1, "total": 1}], 422, "at"),
        ("nope", [{"at": now.isoformat(), "good": 1, "total": 1}], 404, "nope"),
        ("chatbot-uptime", [{"at": now.isoformat(), "good": 1, "total": 1}], 422, "minutes"),
        (SLO, [{"at": now.isoformat(), "good": 0, "total": 2**31}], 422, "per minute"),
        (SLO, [{"at": now.isoformat(), "good": 0, "total": 2**30}] * 2, 422, "items[1]"),
    ]
    for name, body, code, says in cases:
        answer = client.post(f"/api/slos/{name}/events", json=body)
        assert answer.status_code == code and says in answer.text, (name, body, answer.text)
    assert client.get(f"/api/slos/{SLO}").json()["budget"]["total_events"] == 0


def test_incident_minutes_sli_counts_customer_impact(client, clock):
    client.post("/api/incidents", json={"title": "chatbot down", "severity": "SEV1",
                                        "model": "chatbot",
                                        "impact_started_at": "2026-11-25T07:00:00Z"})  # fmt: skip
    client.post("/api/incidents/1/mitigate", json={"at": "2026-11-25T08:00:00Z"})
    body = client.get("/api/slos/chatbot-uptime").json()
    # 60 bad minutes out of 28 days = 40,320 minutes; allowed 1% = 403.2 → 14.9% consumed
    assert body["budget"]["bad_events"] == 60 and body["budget"]["total_events"] == 40_320
    assert body["budget"]["consumed"] == pytest.approx(60 / 403.2)
    names = [s["name"] for s in client.get("/api/slos").json()]
    assert names == ["recsys-availability", "checkout-availability", "chatbot-uptime"]


def test_an_incident_that_spent_over_a_fifth_of_the_budget_requires_a_postmortem(client, clock):
    # a quiet month: 27 busy minutes of 100,000 requests, no errors → 13,500 bad allowed
    quiet = [{"at": (clock.now() - timedelta(days=d, minutes=30)).isoformat(),
              "good": 100_000, "total": 100_000} for d in range(1, 28)]  # fmt: skip
    client.post(f"/api/slos/{SLO}/events", json=quiet)
    client.post("/api/releases/check", json={"service": "recsys",
                "canary": {"good": 199_600, "total": 200_000},
                "baseline": {"good": 199_600, "total": 200_000}})  # fmt: skip
    # an outage of 20 minutes: 4,000 requests a minute failing 5% → 4,000 bad
    started = (clock.now() - timedelta(minutes=20)).isoformat()
    outage = {"title": "recsys errors", "severity": "SEV2", "model": "recsys",
              "impact_started_at": started}  # fmt: skip
    client.post("/api/incidents", json=outage)
    client.post(f"/api/slos/{SLO}/events", json=minutes(clock, 20, total=4000, bad=200))
    client.post("/api/incidents/1/mitigate")
    spent = client.get("/api/incidents/1").json()["error_budget"]
    recsys = next(s for s in spent if s["slo"] == SLO)
    # allowed = 0.5% × (2,700,000 + 80,000) = 13,900; 4,000 / 13,900 = 28.8%
    assert recsys["bad_events"] == 4000
    assert recsys["consumed"] == pytest.approx(4000 / 13_900)
    assert recsys["postmortem_required"] is True
    document = client.get("/api/incidents/1/postmortem.md").text
    assert f"| {SLO} | 4,000 | 28.8% | yes: over 20% of the budget |" in document
    assert "### Release gate" in document and "**go**" in document
