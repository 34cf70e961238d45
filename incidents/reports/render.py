"""Render postmortem documents (Markdown and HTML) from a ``PostmortemContext`` with Jinja2.

Templates live in ``Settings.templates_dir`` so teams can ship their own copy; they see only
the context's fields (plus ``context`` itself) and the filters registered here, so every
presentation rule (durations, UTC times, Markdown table cells) is written once.
"""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from incidents.domain.humanize import format_duration
from incidents.reports.context import PostmortemContext
from incidents.reports.summary_context import Summary

FORMATS = ("md", "html")
SUMMARY_FORMATS = ("md", "html", "slack")
MISSING = "—"

# A pipe ends a GFM table cell unless escaped; backslashes right before it would otherwise
# escape our escape, so they are doubled (rendering as the literal backslashes they were).
_PIPE = re.compile(r"(\\*)\|")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def duration_filter(seconds: float | None) -> str:
    """Show a duration in seconds the way people read it ('1h 5m'), '—' when unknown."""
    return format_duration(seconds)


def utc_filter(value: datetime | None) -> str:
    """Show an instant unambiguously in UTC, so readers in any timezone agree on it."""
    if value is None:
        return MISSING
    if value.tzinfo is None:
        # Every *_at is aware UTC (DESIGN §3); guessing a zone would print a wrong time.
        raise ValueError(f"naive datetime {value.isoformat()} cannot be shown as UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def date_filter(value: date | None) -> str:
    """Show a calendar date as ISO 8601, which sorts and reads the same everywhere."""
    return MISSING if value is None else value.isoformat()


def md_cell(value: object) -> str:
    """Make a value safe inside a Markdown table cell, where a pipe or newline breaks the row."""
    if value is None:
        return MISSING
    one_line = _LINE_BREAKS.sub(" ", str(value)).strip()
    return _PIPE.sub(lambda match: match.group(1) * 2 + "\\|", one_line)


def mrkdwn_filter(value: object) -> str:
    """Escape text for Slack mrkdwn, where <, > and & start links, mentions and entities."""
    if value is None:
        return MISSING
    text = str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_date_filter(value: datetime | None) -> str:
    """Show an instant in each Slack reader's own timezone, with a UTC fallback."""
    if value is None:
        return MISSING
    epoch = int(value.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{utc_filter(value)}>"


def build_environment(templates_dir: Path) -> jinja2.Environment:
    """Return the (cached) environment for `templates_dir`, so templates are parsed once."""
    return _environment(str(templates_dir))


@lru_cache(maxsize=8)
def _environment(templates_dir: str) -> jinja2.Environment:
    """Build the one environment of a templates folder with the escaping rules of DESIGN §8."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        # select_autoescape matches name suffixes: ".html.j2" must be listed as "html.j2".
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        # Documents are files: end them with a newline like every other text file.
        keep_trailing_newline=True,
    )
    environment.filters.update(
        duration=duration_filter,
        utc=utc_filter,
        date=date_filter,
        md_cell=md_cell,
        mrkdwn=mrkdwn_filter,
        slack_date=slack_date_filter,
    )
    return environment


def template_variables(context: PostmortemContext) -> dict[str, Any]:
    """Expose the context's fields by name (nested items stay dataclasses) plus `context`."""
    variables: dict[str, Any] = {
        field.name: getattr(context, field.name) for field in fields(context)
    }
    variables["context"] = context
    return variables


def render_postmortem(context: PostmortemContext, *, templates_dir: Path, fmt: str) -> str:
    """Render the postmortem as Markdown ("md") or a standalone HTML page ("html")."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown postmortem format {fmt!r} (use one of: {', '.join(FORMATS)})")
    template = build_environment(templates_dir).get_template(f"postmortem.{fmt}.j2")
    return template.render(template_variables(context))


def render_summary(found: Summary, *, templates_dir: Path, fmt: str) -> str:
    """Render the stakeholder summary as Markdown, a standalone HTML page or Slack mrkdwn."""
    if fmt not in SUMMARY_FORMATS:
        raise ValueError(
            f"unknown summary format {fmt!r} (use one of: {', '.join(SUMMARY_FORMATS)})"
        )
    template = build_environment(templates_dir).get_template(f"summary.{fmt}.j2")
    variables: dict[str, Any] = {field.name: getattr(found, field.name) for field in fields(found)}
    variables["context"] = found
    return template.render(variables)
