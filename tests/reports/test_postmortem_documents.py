"""Postmortem documents: golden files for both formats, escaping, placeholders, strictness.

Set INCIDENTS_UPDATE_GOLDEN=1 to rewrite the golden files after an intended template change,
then review the diff like any other code change.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jinja2
import pytest

from incidents.reports.context import (
    ActionItem,
    AlertItem,
    BudgetItem,
    GateItem,
    PostmortemContext,
    TimelineItem,
    WhyItem,
)
from incidents.reports.render import build_environment, md_cell, render_postmortem

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("INCIDENTS_UPDATE_GOLDEN") == "1"
SCRIPT = "<script>alert(1)</script>"
IMPACT_START = datetime(2026, 11, 24, 22, 5, tzinfo=UTC)


def at(minutes: float) -> datetime:
    """Return the instant `minutes` after the impact started."""
    return IMPACT_START + timedelta(minutes=minutes)


def seconds_between(start: float, end: float) -> float:
    """Return the seconds between two offsets given in minutes."""
    return (end - start) * 60.0


def drift_context() -> PostmortemContext:
    """A resolved SEV2: the loan-default model drifted and approved too many risky loans."""
    return PostmortemContext(
        key="INC-2026-0142",
        title="Loan-default model approved high-risk applicants after a feature pipeline change",
        severity="SEV2",
        status="resolved",
        summary=(
            "From 22:05 UTC the loan-default model (v7) scored SME applicants in the EU as far "
            "less risky than they were, because a pipeline change sent income in cents instead "
            "of euros. The approval rate for the slice rose from 41% to 68% until traffic was "
            "routed to the previous model version at 23:52 UTC.\n\n"
            "About 1,900 applications were scored by the drifted model; credit ops is reviewing "
            "the 310 approvals that would have been declined."
        ),
        service="credit-scoring",
        model="loan-default v7",
        slice="region=eu, segment=sme",
        commander="maria.keller",
        impact_started_at=at(0),
        impact_started_source="source",
        detected_at=at(25),
        reported_at=at(25.5),
        acknowledged_at=at(32),
        mitigated_at=at(107),
        resolved_at=at(180),
        time_to_detect=seconds_between(0, 25),
        time_to_acknowledge=seconds_between(25, 32),
        time_to_mitigate=seconds_between(0, 107),
        time_to_resolve=seconds_between(0, 180),
        detection_source="alert from evidently",
        problem_statement=(
            "The loan-default model approved EU SME applicants it should have declined for 1h 47m."
        ),
        postmortem_status="in review",
        whys=[
            WhyItem(
                position=1,
                question="Why did the model approve high-risk applicants?",
                answer="Its income feature was 100× the real value, so debt-to-income looked tiny.",
                author="li.wei",
                is_root_cause=False,
            ),
            WhyItem(
                position=2,
                question="Why was income 100× too large?",
                answer="The new feature pipeline sent amounts in cents; the model expects euros.",
                author="li.wei",
                is_root_cause=False,
            ),
            WhyItem(
                position=3,
                question="Why did the unit change reach production?",
                answer=(
                    "Feature contracts do not state units, and the pipeline's release checks "
                    "compare schemas (names and types), not value distributions."
                ),
                author="maria.keller",
                is_root_cause=True,
            ),
        ],
        actions=[
            ActionItem(
                text="Add units to the feature contract and fail the build on a unit change",
                owner="li.wei",
                due=date(2026, 12, 4),
                why_position=3,
                status="open",
            ),
            ActionItem(
                text="Gate pipeline releases on a drift check | PSI < 0.1 against last week",
                owner=None,
                due=None,
                why_position=None,
                status="in progress",
            ),
        ],
        timeline=[
            TimelineItem(
                at=at(25), kind="alert_added", actor=None, text="Evidently: income drift (PSI 2.4)"
            ),
            TimelineItem(at=at(25.5), kind="opened", actor=None, text=None),
            TimelineItem(at=at(32), kind="acknowledged", actor="maria.keller", text=None),
            TimelineItem(
                at=at(74),
                kind="note",
                actor="li.wei",
                text="Income values are 100x larger since pipeline release 2026.11.24-3.",
            ),
            TimelineItem(
                at=at(107),
                kind="mitigated",
                actor="maria.keller",
                text="Routed all traffic back to loan-default v6.",
            ),
            TimelineItem(at=at(180), kind="resolved", actor="maria.keller", text=None),
        ],
        alerts=[
            AlertItem(
                source="evidently",
                title="Feature drift: income (PSI 2.4)",
                severity="SEV2",
                status="resolved",
                starts_at=at(25),
                ends_at=at(110),
                seen_count=6,
            ),
            AlertItem(
                source="grafana",
                title="Approval rate above 60% for region=eu, segment=sme",
                severity="SEV3",
                status="resolved",
                starts_at=at(41),
                ends_at=at(112),
                seen_count=3,
            ),
        ],
        runbook="https://runbooks.example.com/credit-scoring/model-drift",
        went_well=[
            "Drift monitoring on input features fired 25 minutes after impact started.",
            "Rolling back to v6 took one command.",
        ],
        went_wrong=[
            "The alert went to a channel nobody watched at night; the page came from Grafana.",
        ],
        got_lucky=["The release happened on a quiet evening, not during the month-end peak."],
        contributing_factors=[
            "The pipeline and the model are owned by different teams.",
            "No canary for feature-pipeline releases.",
        ],
        error_budget=[
            BudgetItem("loan-approvals", bad_events=12_400, consumed=0.31, postmortem_required=True)
        ],  # fmt: skip
        release_checks=[GateItem(at(-90), "go", ["every guard passed; 41,200 samples per arm"])],
        generated_at=datetime(2026, 11, 25, 9, 40, 12, tzinfo=UTC),
    )


def bare_context() -> PostmortemContext:
    """A fresh manual incident: impact start defaulted, nothing analysed or measured yet."""
    return PostmortemContext(
        key="INC-2026-0143",
        title="Checkout latency",
        severity="SEV3",
        status="triggered",
        summary=None,
        service=None,
        model=None,
        slice=None,
        commander=None,
        impact_started_at=at(0),
        impact_started_source="defaulted",
        detected_at=at(0),
        reported_at=at(0),
        acknowledged_at=None,
        mitigated_at=None,
        resolved_at=None,
        time_to_detect=None,
        time_to_acknowledge=None,
        time_to_mitigate=None,
        time_to_resolve=None,
        detection_source="declared by a person (sam.ortiz)",
        problem_statement=None,
        postmortem_status="draft",
    )


CONTEXTS = {"drift": drift_context, "bare": bare_context}


def render(context: PostmortemContext, fmt: str) -> str:
    """Render with the shipped templates."""
    return render_postmortem(context, templates_dir=TEMPLATES_DIR, fmt=fmt)


# --- golden files -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_postmortem_matches_golden_file(name: str, fmt: str) -> None:
    golden = GOLDEN_DIR / f"postmortem_{name}.{fmt}"
    rendered = render(CONTEXTS[name](), fmt)
    if UPDATE_GOLDEN:
        golden.write_bytes(rendered.encode("utf-8"))
    assert golden.exists(), f"{golden.name} is missing: run with INCIDENTS_UPDATE_GOLDEN=1"
    assert rendered == golden.read_bytes().decode("utf-8")  # bytes: no newline translation


# --- escaping: every string the context carries, set programmatically ---------------------

_NOT_TEXT: set[object] = {datetime, date, float, int, bool, type(None)}


def _members(hint: object) -> tuple[object, ...]:
    """Split `X | None` into its members; a plain type is its own only member."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def fill_strings(instance: Any, make: typing.Callable[[str], str], path: str = "") -> Any:
    """Replace every str field (nested items and lists of str too) with make(field path).

    Driven by the type hints, so a field added to the context later is covered without
    editing this test; a field of a type it does not know fails loudly instead of being skipped.
    """
    hints = typing.get_type_hints(type(instance))
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(instance):
        name, hint = f"{path}{field.name}", hints[field.name]
        value = getattr(instance, field.name)
        if str in _members(hint):
            changes[field.name] = make(name)
        elif typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint)
            if item is str:
                changes[field.name] = [make(f"{name}[0]"), make(f"{name}[1]")]
            else:
                assert dataclasses.is_dataclass(item), f"teach this test about {name}: {hint}"
                assert value, f"the base context needs at least one item in {name}"
                changes[field.name] = [
                    fill_strings(entry, make, f"{name}[{index}].")
                    for index, entry in enumerate(value)
                ]
        else:
            assert set(_members(hint)) <= _NOT_TEXT, f"teach this test about {name}: {hint}"
    return dataclasses.replace(instance, **changes)


def test_script_in_every_string_field_is_escaped_in_html() -> None:
    paths: list[str] = []

    def payload(path: str) -> str:
        paths.append(path)
        return f"{SCRIPT}@{path}@"

    html = render(fill_strings(drift_context(), payload), "html")

    assert len(paths) > 30  # the walk really reached the nested items
    assert "<script" not in html.lower()
    not_shown = [p for p in paths if f"&lt;script&gt;alert(1)&lt;/script&gt;@{p}@" not in html]
    assert not_shown == []  # every field is shown, escaped


def test_script_in_every_string_field_renders_in_markdown() -> None:
    markdown = render(fill_strings(drift_context(), lambda path: f"{SCRIPT}@{path}@"), "md")
    assert f"{SCRIPT}@summary@" in markdown  # Markdown is not HTML-escaped (DESIGN §8)


def test_runbook_that_is_not_a_web_url_is_not_linked() -> None:
    context = dataclasses.replace(drift_context(), runbook="javascript:alert(1)")
    html = render(context, "html")
    assert 'href="javascript:' not in html
    assert "<p>javascript:alert(1)</p>" in html


def _table_rows(markdown: str) -> list[list[str]]:
    """Return the markdown table blocks, each as its lines."""
    blocks: list[list[str]] = [[]]
    for line in markdown.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def test_markdown_tables_keep_their_shape_with_pipes_and_newlines_in_values() -> None:
    context = fill_strings(drift_context(), lambda path: f"a | b\\|c\nd {path}")
    tables = _table_rows(render(context, "md"))
    assert len(tables) == 7  # the six tables of before, plus the error budget
    for table in tables:
        widths = {len(re.split(r"(?<!\\)\|", row.replace("\\\\", ""))) for row in table}
        assert len(widths) == 1, table


# --- placeholders -------------------------------------------------------------------------


def _md_sections(markdown: str) -> dict[str, str]:
    """Map each '## ' heading to the text under it."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return {heading: body.strip() for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def _html_sections(html: str) -> dict[str, str]:
    """Map each <h2> heading to the markup under it."""
    parts = re.split(r"<h2>(.+?)</h2>", html)
    return {heading: body.strip() for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


SECTIONS = [
    "Summary",
    "Impact",
    "Key timestamps",
    "Detection",
    "Timeline",
    "5 Whys",
    "Contributing factors",
    "What went well",
    "What went wrong",
    "Where we got lucky",
    "Action items",
    "Runbook used",
]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_sections_come_in_design_order_and_none_is_empty(fmt: str) -> None:
    for make in CONTEXTS.values():
        document = render(make(), fmt)
        sections = _md_sections(document) if fmt == "md" else _html_sections(document)
        assert list(sections) == SECTIONS
        assert all(sections.values())


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_bare_context_shows_placeholders(fmt: str) -> None:
    document = render(bare_context(), fmt)
    sections = _md_sections(document) if fmt == "md" else _html_sections(document)

    assert "No summary written yet." in sections["Summary"]
    assert "still affected: not mitigated yet" in sections["Impact"]
    assert "defaulted to the detection time" in sections["Impact"]
    assert "not measurable (impact start unknown)" in sections["Key timestamps"]
    assert "not acknowledged yet" in sections["Key timestamps"]
    assert "not measurable (impact start unknown)" in sections["Detection"]
    assert "No alerts were attached to this incident." in sections["Detection"]
    assert "No timeline entries." in sections["Timeline"]
    assert "The 5 Whys analysis has not started." in sections["5 Whys"]
    for heading in ["Contributing factors", "What went well", "What went wrong"]:
        assert "Not recorded yet." in sections[heading]
    assert "Not recorded yet." in sections["Where we got lucky"]
    assert "No action items yet." in sections["Action items"]
    assert "None linked." in sections["Runbook used"]


def test_root_cause_is_marked() -> None:
    markdown = render(drift_context(), "md")
    assert "**Why 3: Why did the unit change reach production?** — **ROOT CAUSE**" in markdown
    assert "> **Root cause (why 3):** Feature contracts do not state units" in markdown


# --- environment and filters --------------------------------------------------------------


def test_unknown_variable_raises() -> None:
    environment = build_environment(TEMPLATES_DIR)
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ nope }}").render()


def test_autoescape_is_on_for_html_templates_only() -> None:
    environment = build_environment(TEMPLATES_DIR)
    assert callable(environment.autoescape)
    assert environment.autoescape("postmortem.html.j2") is True
    assert environment.autoescape("postmortem.md.j2") is False
    assert environment.autoescape("_partials/postmortem_facts.j2") is False
    assert environment.autoescape(None) is False


def test_environment_is_cached_per_folder() -> None:
    assert build_environment(TEMPLATES_DIR) is build_environment(TEMPLATES_DIR)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="pdf"):
        render(drift_context(), "pdf")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a | b", "a \\| b"),
        ("one\ntwo\r\nthree", "one two three"),
        ("ends with\n", "ends with"),
        ("path\\|x", "path\\\\\\|x"),
        (None, "—"),
        (3, "3"),
    ],
)
def test_md_cell_escapes_pipes_and_folds_newlines(value: object, expected: str) -> None:
    assert md_cell(value) == expected


def test_filters_format_durations_times_and_dates() -> None:
    environment = build_environment(TEMPLATES_DIR)
    template = environment.from_string("{{ s | duration }}/{{ t | utc }}/{{ d | date }}")
    berlin = datetime(2026, 11, 25, 10, 40, 12, tzinfo=timezone(timedelta(hours=1)))
    shown = template.render(s=750.0, t=berlin, d=date(2026, 12, 4))
    assert shown == "12m 30s/2026-11-25 09:40:12 UTC/2026-12-04"
    assert template.render(s=None, t=None, d=None) == "—/—/—"


def test_naive_datetime_is_refused() -> None:
    template = build_environment(TEMPLATES_DIR).from_string("{{ t | utc }}")
    with pytest.raises(ValueError, match="naive"):
        template.render(t=datetime(2026, 11, 25, 9, 40))
