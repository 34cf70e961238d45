"""Stakeholder summaries with hostile text: HTML escapes it, Slack mrkdwn cannot be made to
link or ping anyone, and an oversized summary still fits one Slack message."""

from __future__ import annotations

from sqlmodel import Session

from incidents.flows import summary
from incidents.reports.render import render_summary
from incidents.slack.summary_blocks import MAX_BLOCKS, MAX_FALLBACK, MAX_SECTION, summary_message

HOSTILE = "<script>alert(1)</script> <!channel> <@U0BOSS> a & b"
ESCAPED_SLACK = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; &lt;@U0BOSS&gt; a &amp; b"


def hostile_incident(client, *, actions: int = 1, text: str = HOSTILE, short: str = HOSTILE):
    """Create a resolved incident whose free-text fields carry `text` (names: `short`)."""
    created = client.post("/api/incidents", json={
        "title": short, "service": short, "model": short, "slice": {"language": short},
        "summary": text, "impact_started_at": "2026-11-25T08:00:00Z"})  # fmt: skip
    assert created.status_code == 201, created.text
    client.put("/api/incidents/1/impact", json={"model": "generic", "currency": "EUR",
               "inputs": {"affected_share": 1, "volume_per_hour": 10,
                          "value_per_unit": 3}})  # fmt: skip
    client.post("/api/incidents/1/notes", json={"text": text})
    client.post("/api/incidents/1/resolve")
    client.put("/api/incidents/1/postmortem", json={"problem_statement": "p"})
    for _ in range(actions):
        action = {"text": text, "owner": "o"}
        added = client.post("/api/incidents/1/postmortem/actions", json=action)
        assert added.status_code == 201, added.text


def rendered(engine, clock, settings, fmt: str) -> str:
    with Session(engine) as session:
        found = summary.summary(1, session=session, clock=clock, cadence=settings.cadence,
                                public_url=settings.public_url)  # fmt: skip
    return render_summary(found, templates_dir=settings.templates_dir, fmt=fmt)


def test_html_summary_escapes_every_free_text_field(client, engine, clock, settings):
    hostile_incident(client)
    html = client.get("/api/incidents/1/summary.html").text
    assert "<script" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # title ×2, headline, …


def test_slack_summary_cannot_link_or_mention(client, engine, clock, settings):
    hostile_incident(client)
    mrkdwn = rendered(engine, clock, settings, "slack")
    assert "<!channel>" not in mrkdwn and "<@U0BOSS>" not in mrkdwn and "<script" not in mrkdwn
    # title, headline (subject), users see, doing, action: every one escaped
    assert mrkdwn.count(ESCAPED_SLACK) >= 5
    links = [part.split(">", 1)[0] for part in mrkdwn.split("<")[1:]]
    assert all(link.startswith(("!date^", "http://127.0.0.1:8000/")) for link in links), links


def test_markdown_summary_keeps_text_as_written(client, engine, clock, settings):
    hostile_incident(client)
    markdown = client.get("/api/incidents/1/summary.md").text
    assert f"**What we are doing:** {HOSTILE}" in markdown


def test_an_oversized_summary_still_fits_one_slack_message(client, engine, clock, settings):
    hostile_incident(client, actions=80, text="x" * 4000)
    message = summary_message(rendered(engine, clock, settings, "slack"))
    blocks = message["blocks"]
    assert 1 < len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= MAX_SECTION for b in blocks)
    assert len(message["text"]) <= MAX_FALLBACK
    assert blocks[1]["text"]["text"].startswith("*Business impact:*"), "money stays up front"
