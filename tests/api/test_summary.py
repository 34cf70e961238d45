"""The stakeholder summary leads with money, never invents an ETA, and ends with prevention."""

from __future__ import annotations


def test_summary_of_an_ongoing_then_resolved_credit_incident(client, clock):
    client.post("/api/incidents", json={"title": "Loan approvals for risky applicants",
                                        "severity": "SEV2", "model": "loan-default",
                                        "impact_started_at": "2026-11-25T03:00:00Z"})  # fmt: skip
    inputs = {"approvals_per_day": 2400, "delta_pd": [0.01, 0.02], "lgd": 0.45, "ead": 10_000}
    client.put(
        "/api/incidents/1/impact", json={"model": "credit", "currency": "EUR", "inputs": inputs}
    )
    client.post("/api/incidents/1/notes", json={"text": "Switched to the fallback scorecard"})
    ongoing = client.get("/api/incidents/1/summary.json").json()
    # 6 hours so far at 108,000–216,000 €/day = 27,000–54,000 €
    assert ongoing["business_impact"] == (
        "INC-1 on loan-default is putting at risk an estimated €27,000–€54,000 so far; "
        "600 loan approvals affected."
    )
    # The line a reader can recompute: 2,400 × 1–2% × 45% × €10,000 × 0.25 days
    assert ongoing["money"]["formula_line"] == (
        "2,400 approvals/day × ΔPD 1%–2% × LGD 45% × EAD €10,000 × 0.25 days = €27,000–€54,000"
    )
    assert ongoing["eta"] == "unknown"
    assert ongoing["next_update_at"] == "2026-11-25T10:00:00Z"  # SEV2: hourly
    assert ongoing["what_we_are_doing"] == "Switched to the fallback scorecard"
    assert ongoing["money"]["ongoing"] is True and ongoing["prevention"] == []

    client.post("/api/incidents/1/mitigate")
    clock.advance(hours=3)
    client.post("/api/incidents/1/resolve")
    client.put("/api/incidents/1/postmortem", json={"problem_statement": "p"})
    client.post("/api/incidents/1/postmortem/actions", json={"text": "Contract tests on units"})
    done = client.get("/api/incidents/1/summary.json").json()
    assert done["business_impact"].startswith("INC-1 on loan-default cost an estimated €27,000")
    assert done["eta"] == "resolved" and done["next_update_at"] is None
    assert [p["text"] for p in done["prevention"]] == ["Contract tests on units"]
    markdown = client.get("/api/incidents/1/summary.md")
    assert markdown.headers["content-type"].startswith("text/plain")
    assert "## So it does not happen again\n\n- Contract tests on units" in markdown.text
    html = client.get("/api/incidents/INC-1/summary.html")
    assert html.headers["content-type"].startswith("text/html")
    assert "<li>Contract tests on units" in html.text


def test_summary_without_an_estimate_says_so(client, clock):
    client.post("/api/incidents", json={"title": "x", "service": "checkout"})
    clock.advance(minutes=5)
    body = client.get("/api/incidents/1/summary.json").json()
    assert "has not been estimated yet" in body["business_impact"] and body["money"] is None
