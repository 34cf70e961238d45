"""The pages' Jinja2 environment: shipped templates, StrictUndefined, HTML always escaped.

Page templates ship inside the package (``incidents/web/templates``), unlike the documents'
user-editable ``templates/``: a page is part of the program. The escaping rule is the
documents' (DESIGN §8): autoescape for ``*.html.j2``, listed explicitly because
``select_autoescape`` matches suffixes; charts arrive as ``Markup`` already escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from incidents.domain.humanize import format_duration
from incidents.reports.render import utc_filter
from incidents.web.svg import rate

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def duration(value: timedelta | float | None) -> str:
    """Show a duration the way people read it ('1h 5m'), '—' when unknown."""
    return format_duration(value)


def iso(value: datetime | None) -> str:
    """Return the machine-readable instant for a <time datetime> attribute."""
    return "" if value is None else value.astimezone(UTC).isoformat()


def ago(value: datetime | None, now: datetime) -> str:
    """Say how long ago something happened ('2h 5m ago'), 'in …' for the future."""
    if value is None:
        return "—"
    delta = now - value
    if delta < timedelta(0):
        return f"in {format_duration(-delta)}"
    return f"{format_duration(delta)} ago"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Build the environment once per process (templates are parsed on first use)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=True, default=True
        ),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc_filter, duration=duration, iso=iso, ago=ago, rate=rate)
    return env


def render(name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page template into a response."""
    html = environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code)
