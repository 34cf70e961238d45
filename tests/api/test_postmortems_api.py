"""The postmortem REST mirror: a whole 5 Whys analysis through the API."""

from __future__ import annotations


def start(client):
    client.post("/api/incidents", json={"title": "Loan approvals dropped", "severity": "SEV2"})
    return client.put(
        "/api/incidents/INC-1/postmortem",
        json={"problem_statement": "Approvals fell 30% for 2 hours", "actor": "ana"},
    )


def test_a_whole_analysis_through_the_api(client, clock):
    started = start(client).json()
    assert started["next_question"] == "Why did “Approvals fell 30% for 2 hours” happen?"
    clock.advance(minutes=1)
    answers = [
        "The model scored applicants as riskier",
        "Income was missing for new applicants",
        "The feature pipeline dropped a renamed column silently",
    ]
    for answer in answers:
        body = client.post(
            "/api/incidents/1/postmortem/whys", json={"answer": answer, "actor": "ben"}
        )
        assert body.status_code == 201
        assert body.json()["nudge"] is None
    after = body.json()
    assert after["next_question"] == f"Why did “{answers[-1]}” happen?"
    assert after["can_mark_root_cause"] is True
    assert [w["question"] for w in after["whys"]][1] == f"Why did “{answers[0]}” happen?"
    marked = client.post("/api/incidents/1/postmortem/root-cause", json={"position": 3}).json()
    assert marked["root_cause_position"] == 3 and marked["next_question"] is None
    action = client.post(
        "/api/incidents/1/postmortem/actions",
        json={
            "text": "Fail the pipeline on missing columns",
            "owner": "ben",
            "due": "2026-12-15",
            "why": 3,
        },
    ).json()
    assert action["status"] == "open" and action["due"] == "2026-12-15"
    done = client.patch(
        f"/api/incidents/1/postmortem/actions/{action['id']}", json={"status": "done"}
    )
    assert done.json()["status"] == "done"
    finished = client.put("/api/incidents/1/postmortem", json={"status": "done"}).json()
    assert finished["status"] == "done"
    kinds = [
        e["text"]
        for e in client.get("/api/incidents/1/timeline").json()
        if e["kind"] == "postmortem"
    ]
    assert kinds[0] == "postmortem started" and kinds[-1] == "postmortem finished"
    assert any("root cause found (why 3)" in text for text in kinds)


def test_blaming_answers_come_back_with_a_nudge_and_edits_keep_who_changed_them(client):
    start(client)
    blamed = client.post(
        "/api/incidents/1/postmortem/whys",
        json={"answer": "Carl forgot to update the schema", "actor": "dee"},
    )
    assert "what in the system" in blamed.json()["nudge"]
    edited = client.patch(
        "/api/incidents/1/postmortem/whys/1",
        json={"answer": "No check compared the schemas", "actor": "dee"},
    ).json()
    why = edited["whys"][0]
    assert why["nudge"] is None and why["edited_by"] == "dee" and why["author"] == "dee"
    assert edited["next_question"] == "Why did “No check compared the schemas” happen?"


def test_rules_are_enforced_with_clear_errors(client):
    client.post("/api/incidents", json={"title": "x"})
    assert client.get("/api/incidents/1/postmortem").json()["started"] is False
    early = client.post("/api/incidents/1/postmortem/whys", json={"answer": "a"})
    assert early.status_code == 409 and "problem statement" in early.json()["detail"]
    start(client)
    for answer in ["a", "b"]:
        client.post("/api/incidents/1/postmortem/whys", json={"answer": answer})
    too_soon = client.post("/api/incidents/1/postmortem/root-cause", json={"position": 2})
    assert too_soon.status_code == 409
    assert client.post("/api/incidents/1/postmortem/whys", json={"answer": "  "}).status_code == 422
    unfinished = client.put("/api/incidents/1/postmortem", json={"status": "done"})
    assert unfinished.status_code == 409
    for answer in ["c", "d", "e", "f", "g"]:
        client.post("/api/incidents/1/postmortem/whys", json={"answer": answer})
    eighth = client.post("/api/incidents/1/postmortem/whys", json={"answer": "h"})
    assert eighth.status_code == 409 and "at most 7" in eighth.json()["detail"]
    bad = client.post(
        "/api/incidents/1/postmortem/actions", json={"text": "t", "why": 7, "due": "not a date"}
    )
    assert bad.status_code == 422
    assert (
        client.patch("/api/incidents/1/postmortem/actions/99", json={"status": "done"}).status_code
        == 404
    )
    assert client.get("/api/incidents/42/postmortem").status_code == 404


def test_documents_render_from_the_database_and_show_corrections(client, clock):
    start(client)
    for answer in ["Scores rose", "Income was inflated", "The pipeline changed units"]:
        client.post("/api/incidents/1/postmortem/whys", json={"answer": answer, "actor": "ben"})
    client.post("/api/incidents/1/postmortem/root-cause", json={"position": 3})
    client.post(
        "/api/incidents/1/postmortem/actions",
        json={"text": "Check units in CI", "owner": "ben", "why": 3},
    )
    retro = client.put(
        "/api/incidents/1/postmortem",
        json={
            "went_well": ["Drift alert fired within 5 minutes"],
            "went_wrong": ["Rollback took 40 minutes"],
            "got_lucky": ["It happened on a Monday morning"],
            "contributing_factors": ["No unit contract between pipeline and model"],
        },
    )
    assert retro.json()["went_well"] == ["Drift alert fired within 5 minutes"]
    markdown = client.get("/api/incidents/INC-1/postmortem.md")
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/plain")
    text = markdown.text
    assert "Loan approvals dropped" in text and "Approvals fell 30% for 2 hours" in text
    assert "The pipeline changed units" in text and "Check units in CI" in text
    assert "Rollback took 40 minutes" in text and "No unit contract" in text
    clock.advance(minutes=5)
    client.patch("/api/incidents/1", json={"title": "Loan approvals dropped for new applicants"})
    html = client.get("/api/incidents/1/postmortem.html")
    assert html.headers["content-type"].startswith("text/html")
    assert "Loan approvals dropped for new applicants" in html.text, "a correction shows up"
    assert html.text.lstrip().lower().startswith("<!doctype html>")


def test_a_postmortem_document_can_be_written_from_the_cli(client, database_url, tmp_path):
    from typer.testing import CliRunner

    from incidents.cli import app

    start(client)
    env = {"INCIDENTS_DATABASE_URL": database_url}
    target = tmp_path / "pm.html"
    result = CliRunner().invoke(
        app, ["postmortem", "INC-1", "--format", "html", "--output", str(target)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "Approvals fell 30% for 2 hours" in target.read_text()
    shown = CliRunner().invoke(app, ["postmortem", "1"], env=env)
    assert "Loan approvals dropped" in shown.output
    assert CliRunner().invoke(app, ["postmortem", "1", "--format", "pdf"], env=env).exit_code == 1
