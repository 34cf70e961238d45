"""Pure chart builders: data in, accessible inline SVG out (no I/O, no script, no network).

Each function takes plain values, escapes every text it draws and returns ``Markup``. Marks
carry stable classes — ``point`` (a trend's median per period), ``bar`` (histogram and burn
bars), ``threshold`` (burn alert thresholds) — so tests and stylesheets can find them. The
incident timeline lives in ``web.timeline_chart``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from incidents.web.svg import (
    BLUE,
    GREEN,
    GRID,
    MUTED,
    RED,
    Scale,
    duration_label,
    duration_ticks,
    esc,
    frame,
    line,
    nice_count_ticks,
    num,
    polyline,
    rate,
    text,
)

WIDTH = 640
TREND_WIDTH = 560
AMBER_FILL = "#9a6700"


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One period of a trend: its label, median and p90 in seconds (None without data), n."""

    label: str
    median: float | None
    p90: float | None
    n: int


@dataclass(frozen=True, slots=True)
class Bin:
    """One histogram bar: its label and how many values fell in it."""

    label: str
    count: int


@dataclass(frozen=True, slots=True)
class BurnBar:
    """One burn-rate window: its label, the rate now and the alert threshold for it."""

    window: str
    rate: float | None
    threshold: float | None
    severity: str | None = None


def empty_chart(chart_id: str, *, title: str, message: str = "No data yet") -> Markup:
    """Draw a titled placeholder, so a chart without data still says so."""
    body = text(TREND_WIDTH / 2, 44, message, anchor="middle", fill=MUTED, cls="empty", size=16)
    return frame(chart_id, title=title, desc=message, width=TREND_WIDTH, height=72, body=body)


def trend_chart(points: Sequence[TrendPoint], *, chart_id: str, title: str) -> Markup:
    """Draw medians per period as a line with the p90 as a band above it, n on each period.

    Periods without incidents break the line; a dotted line joins the periods either side.
    """
    if not any(p.median is not None for p in points):
        return empty_chart(chart_id, title=title)
    width, height, left, right, top, bottom = TREND_WIDTH, 250, 60, TREND_WIDTH - 12, 24, 210
    ceiling = max(p.p90 if p.p90 is not None else p.median or 0.0 for p in points)
    ticks = duration_ticks(ceiling)
    y = Scale(0, ticks[-1], bottom, top)
    slot = (right - left) / len(points)
    xs = [left + slot * (i + 0.5) for i in range(len(points))]
    parts = [_y_axis(ticks, y, left, right, duration_label)]
    segments = _segments(points)
    for segment in segments:
        parts.append(_band(segment, points, xs, y))
        if len(segment) > 1:
            coords = [(xs[i], y(_value(points[i].median))) for i in segment]
            parts.append(polyline(coords, stroke=BLUE, cls="median-line"))
    for before, after in zip(segments, segments[1:], strict=False):
        a, b = before[-1], after[0]
        parts.append(line(xs[a], y(_value(points[a].median)), xs[b], y(_value(points[b].median)),
                          stroke=BLUE, dash="2 4", cls="gap-line"))  # fmt: skip
    every = max(1, round(len(points) / 8))
    for i, (point, x) in enumerate(zip(points, xs, strict=True)):
        parts.append(_trend_mark(point, x, y, bottom, label_empty=slot >= 40))
        if i % every == 0:
            parts.append(text(x, bottom + 18, point.label, anchor="middle", fill=MUTED))
    parts.append(line(left, bottom, right, bottom, stroke=MUTED))
    shown = sum(1 for p in points if p.median is not None)
    desc = (
        f"Median line with p90 band over {len(points)} periods, {shown} with data; "
        "n per period is written above each point."
    )
    return frame(chart_id, title=title, desc=desc, width=width, height=height, body="".join(parts))


def _value(value: float | None) -> float:
    """Return a value known to be present (segments only hold periods with data)."""
    assert value is not None
    return value


def _segments(points: Sequence[TrendPoint]) -> list[list[int]]:
    """Split the periods into runs with data, so lines never bridge an empty period."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, point in enumerate(points):
        if point.median is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(i)
    if current:
        runs.append(current)
    return runs


def _band(segment: list[int], points: Sequence[TrendPoint], xs: list[float], y: Scale) -> str:
    """Shade from the median up to the p90 (a narrow bar for a lone period)."""
    highs = [(xs[i], y(points[i].p90 or _value(points[i].median))) for i in segment]
    lows = [(xs[i], y(_value(points[i].median))) for i in segment]
    if len(segment) == 1:
        (x, top_y), (_, low_y) = highs[0], lows[0]
        return (
            f'<rect class="p90-band" x="{num(x - 7)}" y="{num(top_y)}" width="14" '
            f'height="{num(max(low_y - top_y, 1))}" fill="{BLUE}" fill-opacity="0.18"/>'
        )
    outline = highs + list(reversed(lows))
    coords = " ".join(f"{num(px)},{num(py)}" for px, py in outline)
    return f'<polygon class="p90-band" points="{coords}" fill="{BLUE}" fill-opacity="0.18"/>'


def _trend_mark(point: TrendPoint, x: float, y: Scale, bottom: float, *, label_empty: bool) -> str:
    """Draw one period's point and its n (an empty period gets 'n=0' when there is room)."""
    if point.median is None:
        if not label_empty:
            return ""
        return text(x, bottom - 6, f"n={point.n}", anchor="middle", fill=MUTED, cls="n-label")
    top = y(point.p90 if point.p90 is not None else point.median)
    tip = (
        f"{point.label}: median {duration_label(point.median)}, "
        f"p90 {duration_label(point.p90 or point.median)}, n={point.n}"
    )
    return (
        f'<circle class="point" cx="{num(x)}" cy="{num(y(point.median))}" r="4.5" '
        f'fill="{BLUE}"><title>{esc(tip)}</title></circle>'
        + text(x, top - 8, f"n={point.n}", anchor="middle", cls="n-label")
    )


def _y_axis(
    ticks: list[float], y: Scale, left: float, right: float, label: Callable[[float], str]
) -> str:
    """Draw horizontal grid lines with their labels at the left."""
    parts = []
    for tick in ticks:
        parts.append(line(left, y(tick), right, y(tick), stroke=GRID))
        parts.append(text(left - 6, y(tick) + 4, label(tick), anchor="end", fill=MUTED))
    return "".join(parts)


def histogram(bins: Sequence[Bin], *, chart_id: str, title: str) -> Markup:
    """Draw one bar per bin with its count above it."""
    if not bins:
        return empty_chart(chart_id, title=title)
    height, left, right, top, bottom = 240, 44, WIDTH - 12, 24, 200
    ticks = nice_count_ticks(max(b.count for b in bins), whole=True)
    y = Scale(0, ticks[-1], bottom, top)
    slot = (right - left) / len(bins)
    parts = [_y_axis(ticks, y, left, right, lambda t: f"{t:g}")]
    for i, current in enumerate(bins):
        x = left + slot * i + slot * 0.1
        bar_top = y(current.count)
        parts.append(
            f'<rect class="bar" x="{num(x)}" y="{num(bar_top)}" width="{num(slot * 0.8)}" '
            f'height="{num(bottom - bar_top)}" fill="{BLUE}"><title>{esc(current.label)}: '
            f"{current.count}</title></rect>"
        )
        centre = x + slot * 0.4
        parts.append(text(centre, bar_top - 5, current.count, anchor="middle", cls="bar-count"))
        parts.append(text(centre, bottom + 18, current.label, anchor="middle", fill=MUTED))
    parts.append(line(left, bottom, right, bottom, stroke=MUTED))
    total = sum(b.count for b in bins)
    desc = f"{total} values in {len(bins)} bins; each bar is labelled with its count."
    return frame(chart_id, title=title, desc=desc, width=WIDTH, height=height, body="".join(parts))


def burn_chart(bars: Sequence[BurnBar], *, chart_id: str, title: str) -> Markup:
    """Draw the burn rate of each window as a bar, with its alert threshold as a dashed line."""
    if not bars:
        return empty_chart(chart_id, title=title)
    height, left, right, top, bottom = 250, 48, WIDTH - 16, 24, 210
    values = [v for b in bars for v in (b.rate, b.threshold) if v is not None]
    ticks = nice_count_ticks(max([1.0, *values]) * 1.1)
    y = Scale(0, ticks[-1], bottom, top)
    slot = (right - left) / len(bars)
    parts = [_y_axis(ticks, y, left, right, lambda t: f"{t:g}×")]
    parts.append(line(left, y(1), right, y(1), stroke=MUTED, dash="2 3", cls="sustainable"))
    for i, bar in enumerate(bars):
        parts.append(_burn_slot(bar, left + slot * i, slot, y, bottom))
    parts.append(line(left, bottom, right, bottom, stroke=MUTED))
    desc = (
        "Burn rate per window (1× spends the budget exactly over the SLO window); dashed "
        "red lines are the alert thresholds."
    )
    return frame(chart_id, title=title, desc=desc, width=WIDTH, height=height, body="".join(parts))


def _burn_slot(bar: BurnBar, x0: float, slot: float, y: Scale, bottom: float) -> str:
    """Draw one window: the bar (or 'no data'), its value, its threshold and the window name."""
    centre = x0 + slot / 2
    name = bar.window if bar.rate is not None else f"{bar.window} (no data)"
    parts = [text(centre, bottom + 18, name, anchor="middle", fill=MUTED)]
    if bar.rate is not None:
        over = bar.threshold is not None and bar.rate > bar.threshold
        bar_top = y(bar.rate)
        parts.append(
            f'<rect class="bar" x="{num(x0 + slot * 0.25)}" y="{num(bar_top)}" '
            f'width="{num(slot * 0.5)}" height="{num(bottom - bar_top)}" '
            f'fill="{RED if over else BLUE}"><title>{esc(bar.window)}: burn '
            f"{bar.rate:.2f}×</title></rect>"
        )
        parts.append(text(centre, bar_top - 5, f"{bar.rate:.2f}×", anchor="middle"))
    if bar.threshold is not None:
        ty = y(bar.threshold)
        parts.append(
            line(x0 + 6, ty, x0 + slot - 6, ty, stroke=RED, width=2, dash="6 4", cls="threshold")
        )
        label = f"{bar.severity or 'alert'} > {rate(bar.threshold)}×"
        parts.append(text(x0 + slot - 6, ty - 4, label, anchor="end", fill=RED, size=11))
    return "".join(parts)


def budget_gauge(remaining: float | None, *, chart_id: str, title: str) -> Markup:
    """Draw the error budget left as a filled bar (empty when spent), with the figure."""
    height, left, right = 64, 8, WIDTH - 8
    track = (
        f'<rect x="{left}" y="8" width="{right - left}" height="24" rx="4" fill="#eaeef2" '
        f'stroke="{GRID}"/>'
    )
    if remaining is None:
        label = "no data: no events in the window yet"
        body = track + text(left, 52, label, fill=MUTED)
        return frame(chart_id, title=title, desc=label, width=WIDTH, height=height, body=body)
    share = min(max(remaining, 0.0), 1.0)
    colour = GREEN if remaining > 0.5 else AMBER_FILL if remaining > 0.1 else RED
    fill = (
        f'<rect class="budget-fill" x="{left}" y="8" width="{num((right - left) * share)}" '
        f'height="24" rx="4" fill="{colour}"/>'
    )
    label = (
        f"{remaining:.0%} of the error budget left"
        if remaining > 0
        else f"budget exhausted: {-remaining:.0%} over"
    )
    body = track + fill + text(left, 52, label, cls="budget-label")
    return frame(chart_id, title=title, desc=label, width=WIDTH, height=height, body=body)
