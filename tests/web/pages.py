"""Helpers for the page tests: extra incidents beside the demo data, and an HTML checker."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

URL = re.compile(r"https?://[^\s\"'<>)]+")
CONTROLS = ("input", "select", "textarea")
ASSETS = ("link", "img", "script", "iframe", "source")
VOID = (
    "meta",
    "link",
    "input",
    "br",
    "img",
    "path",
    "circle",
    "line",
    "rect",
    "polyline",
    "polygon",
)


def iso(at: datetime) -> str:
    return at.isoformat()


def add_incidents(client: TestClient, now: datetime) -> None:
    """Add INC-4 (checkout, SEV1, 20 days ago), INC-5 (search, SEV4, 45 days ago), both
    resolved, and INC-6 (chatbot language=it, SEV3) mitigated by an override now."""
    for title, severity, service, days, mitigate, resolve in (
        ("Checkout 5xx above 2%", "SEV1", "checkout", 20, 40, 60),
        ("Search latency p99 over 2 s", "SEV4", "search", 45, 120, 180),
    ):
        start = now - timedelta(days=days)
        created = client.post(
            "/api/incidents",
            json={
                "title": title,
                "severity": severity,
                "service": service,
                "impact_started_at": iso(start),
                "detected_at": iso(start + timedelta(minutes=5)),
            },
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        for action, minutes in (("acknowledge", 10), ("mitigate", mitigate), ("resolve", resolve)):
            at = iso(start + timedelta(minutes=minutes))
            answer = client.post(f"/api/incidents/{key}/{action}", json={"at": at, "actor": "dan"})
            assert answer.status_code == 200, answer.text
    created = client.post(
        "/api/incidents",
        json={
            "title": "Italian chats rated lower",
            "severity": "SEV3",
            "model": "chatbot",
            "slice": {"language": "it"},
            "impact_started_at": iso(now - timedelta(minutes=50)),
            "detected_at": iso(now - timedelta(minutes=20)),
        },
    )
    assert created.status_code == 201, created.text
    override = client.post(
        "/api/incidents/INC-6/overrides",
        json={"action": "fallback", "target": "rules-v3", "actor": "eve"},
    )
    assert override.status_code == 201, override.text


@dataclass
class Facts:
    """What the checker saw in one HTML document."""

    lang: str | None = None
    headings: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    label_for: set[str] = field(default_factory=set)
    controls: list[str | None] = field(default_factory=list)
    th_without_scope: int = 0
    svgs: list[dict[str, str | None]] = field(default_factory=list)
    svg_titles: int = 0
    anchors: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    landmarks: set[str] = field(default_factory=set)
    stack: list[str] = field(default_factory=list)


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = Facts()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found: dict[str, Any] = dict(attrs)
        facts = self.facts
        if found.get("id"):
            facts.ids.append(found["id"])
        if re.fullmatch(r"h[1-6]", tag):
            facts.headings.append(int(tag[1]))
        self._note(tag, found)
        if tag in ("main", "nav", "header", "footer"):
            facts.landmarks.add(tag)
        if tag not in VOID:
            facts.stack.append(tag)

    def _note(self, tag: str, found: dict[str, Any]) -> None:
        facts = self.facts
        if tag == "html":
            facts.lang = found.get("lang")
        elif tag == "label" and found.get("for"):
            facts.label_for.add(found["for"])
        elif tag in CONTROLS and found.get("type") != "hidden":
            facts.controls.append(found.get("id"))
        elif tag == "th":
            facts.th_without_scope += 0 if found.get("scope") else 1
        elif tag == "svg":
            facts.svgs.append(found)
        elif tag == "title" and "svg" in facts.stack:
            facts.svg_titles += 1
        elif tag == "a" and found.get("href"):
            facts.anchors.append(found["href"])
        elif tag in ASSETS:
            facts.assets.append(str(found.get("href") or found.get("src") or tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self.facts.stack and self.facts.stack[-1] == tag:
            self.facts.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        stack = self.facts.stack
        if tag in stack:  # close it and any unclosed elements inside it
            del stack[len(stack) - 1 - stack[::-1].index(tag) :]


def check(html: str) -> Facts:
    """Parse a page and return what an accessibility and asset review needs."""
    checker = _Checker()
    checker.feed(html)
    return checker.facts


def assert_accessible(html: str) -> Facts:
    """Assert the structural rules every page keeps (lang, landmarks, headings, labels…)."""
    facts = check(html)
    assert facts.lang == "en"
    assert {"header", "main", "footer"} <= facts.landmarks
    assert facts.headings.count(1) == 1, facts.headings
    for before, after in zip(facts.headings, facts.headings[1:], strict=False):
        assert after <= before + 1, f"heading jumps from h{before} to h{after}"
    assert len(facts.ids) == len(set(facts.ids)), "duplicate ids"
    for control in facts.controls:
        assert control is not None and control in facts.label_for, f"unlabelled {control}"
    assert facts.th_without_scope == 0
    for svg in facts.svgs:
        assert svg.get("role") == "img"
        for ref in str(svg.get("aria-labelledby")).split():
            assert ref in facts.ids, ref
    assert facts.svg_titles >= len(facts.svgs)
    assert all(asset.startswith("/ui/static/") for asset in facts.assets), facts.assets
    return facts


def external_urls(html: str) -> list[str]:
    """Return every absolute http(s) URL written anywhere in a page."""
    return URL.findall(html)
