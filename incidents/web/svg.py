"""SVG building blocks for the charts: escaping, the accessible frame, scales and axis ticks.

Charts are inline SVG computed on the server, so pages need no script and no network. Every
piece of text passes through ``esc``; numbers are formatted here, never taken from callers
as text. The frame carries ``role="img"`` with a ``<title>`` and ``<desc>`` that screen
readers announce; each chart on a page also gets a data table as its text alternative.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from markupsafe import Markup, escape

from incidents.domain.humanize import format_duration

# Colours chosen for ≥ 4.5:1 contrast on white (text) and ≥ 3:1 (marks), GitHub Primer-like.
INK = "#1f2328"
MUTED = "#57606a"
GRID = "#d0d7de"
BLUE = "#0550ae"
RED = "#a40e26"
AMBER = "#7d4e00"
GREEN = "#116329"
PURPLE = "#6639ba"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'

_ID = re.compile(r"[^A-Za-z0-9-]")
DURATION_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    432000,
    604800,
    1209600,
    2592000,
)
TIME_STEPS = tuple(
    timedelta(minutes=m)
    for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200)
)


def esc(value: object) -> str:
    """Escape any text for SVG/HTML, so data can never become markup."""
    return str(escape(str(value)))


def num(value: float) -> str:
    """Write a coordinate compactly (one decimal), so markup stays small and stable."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def rate(value: float) -> str:
    """Write a burn rate or threshold with at most two decimals: 13.44, 5.6, 1."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def safe_id(chart_id: str) -> str:
    """Reduce an id to [A-Za-z0-9-], so it is a valid, unescaped attribute value."""
    return _ID.sub("-", chart_id) or "chart"


def frame(chart_id: str, *, title: str, desc: str, width: int, height: int, body: str) -> Markup:
    """Wrap chart markup in an accessible <svg>: role="img", labelled by its title and desc."""
    cid = safe_id(chart_id)
    return Markup(
        f'<svg class="chart" id="{cid}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" focusable="false" {FONT} fill="{INK}">'
        f'<title id="{cid}-title">{esc(title)}</title><desc id="{cid}-desc">{esc(desc)}</desc>'
        f"{body}</svg>"
    )


def text(
    x: float,
    y: float,
    content: object,
    *,
    anchor: str = "start",
    cls: str = "",
    fill: str = INK,
    size: int | None = None,
) -> str:
    """Return one <text> element with escaped content."""
    klass = f' class="{cls}"' if cls else ""
    font = f' font-size="{size}"' if size else ""
    return (
        f'<text x="{num(x)}" y="{num(y)}" text-anchor="{anchor}" fill="{fill}"{klass}'
        f"{font}>{esc(content)}</text>"
    )


def line(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    *,
    stroke: str = GRID,
    width: float = 1,
    dash: str | None = None,
    cls: str = "",
) -> str:
    """Return one <line> element."""
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
        f'stroke="{stroke}" stroke-width="{num(width)}"{extra}{klass}/>'
    )


@dataclass(frozen=True, slots=True)
class Scale:
    """A linear map from data values [lo, hi] to pixels [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        """Return the pixel position of `value` (the middle when the domain is empty)."""
        if self.hi == self.lo:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def nice_count_ticks(top: float, *, target: int = 5, whole: bool = False) -> list[float]:
    """Return round ticks 0..≥top for counts or rates (1, 2, 5 × 10ⁿ steps; ≥ 1 if whole)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = max(top / target, 1.0) if whole else top / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    count = math.ceil(top / step - 1e-9)
    return [i * step for i in range(count + 1)]


def duration_ticks(top: float, *, target: int = 5) -> list[float]:
    """Return ticks in seconds on human steps (1m, 5m, 1h, 1d…) covering 0..top."""
    if top <= 0:
        return [0.0, 60.0]
    step = next((s for s in DURATION_STEPS if top / s <= target), DURATION_STEPS[-1])
    count = max(1, math.ceil(top / step - 1e-9))
    return [float(i * step) for i in range(count + 1)]


def duration_label(seconds: float) -> str:
    """Label a duration tick with its largest unit ('1h', '15m')."""
    return format_duration(seconds) if seconds else "0"


def time_ticks(start: datetime, end: datetime, *, target: int = 6) -> list[datetime]:
    """Return instants on a round UTC step (5m, 1h, 1d…) inside [start, end]."""
    span = end - start
    step = next((s for s in TIME_STEPS if span / s <= target), TIME_STEPS[-1])
    epoch = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so week steps land on Mondays
    first = epoch + math.ceil((start - epoch) / step) * step
    ticks: list[datetime] = []
    current = first
    while current <= end:
        ticks.append(current)
        current += step
    return ticks


def time_label(at: datetime, span: timedelta) -> str:
    """Label a time tick in UTC: clock time for short spans, the date for long ones."""
    utc = at.astimezone(UTC)
    if span <= timedelta(days=1):
        return utc.strftime("%H:%M")
    if span <= timedelta(days=4):
        return utc.strftime("%d %b %H:%M")
    return utc.strftime("%d %b")


def polyline(points: Sequence[tuple[float, float]], *, stroke: str, cls: str) -> str:
    """Return an open <polyline> through `points`."""
    coords = " ".join(f"{num(x)},{num(y)}" for x, y in points)
    return (
        f'<polyline class="{cls}" points="{coords}" fill="none" stroke="{stroke}" '
        f'stroke-width="2.5" stroke-linejoin="round"/>'
    )
