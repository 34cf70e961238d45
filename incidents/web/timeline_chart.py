"""The incident timeline as one SVG time axis: milestones above, the impact span, alerts below.

Milestones (impact start, detection, acknowledgement, mitigation, resolution) are labelled
vertical markers (class ``marker``); labels that would collide move to the next row. The
customer-impact span is shaded from impact start to mitigation (or to now while ongoing),
and each alert is a diamond at its start (class ``alert-mark``) with a line to its end.
Pure: the caller passes ``now``; all times are shown in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup

from incidents.web.charts import empty_chart
from incidents.web.svg import (
    AMBER,
    BLUE,
    GREEN,
    MUTED,
    PURPLE,
    RED,
    Scale,
    esc,
    frame,
    line,
    num,
    text,
    time_label,
    time_ticks,
)

WIDTH = 960
LEFT, RIGHT = 24, WIDTH - 24
ROW = 17  # label row height
MAX_ROWS = 4
CHAR = 6.8  # average glyph width at 12px, to keep labels apart
MIN_SPAN = timedelta(minutes=10)
COLOURS = {
    "impact_started": RED,
    "detected": AMBER,
    "acknowledged": BLUE,
    "mitigated": GREEN,
    "resolved": MUTED,
}


@dataclass(frozen=True, slots=True)
class Milestone:
    """One lifecycle moment: kind (impact_started, detected…), label and when."""

    kind: str
    label: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertMark:
    """One alert: its title and when it started (and ended, if it did)."""

    label: str
    starts_at: datetime
    ends_at: datetime | None = None


def timeline_chart(
    milestones: Sequence[Milestone],
    alerts: Sequence[AlertMark],
    *,
    now: datetime,
    chart_id: str,
    title: str,
) -> Markup:
    """Draw milestones and alerts on one time axis (extended to `now` while unresolved)."""
    if not milestones and not alerts:
        return empty_chart(chart_id, title=title)
    ongoing = not any(m.kind == "resolved" for m in milestones)
    start, end = _span(milestones, alerts, now if ongoing else None)
    x = Scale(start.timestamp(), end.timestamp(), LEFT, RIGHT)
    rows = _label_rows(milestones, x, end - start)
    band_top = 10 + ROW * (max(rows, default=0) + 1)
    axis_y = band_top + 36
    parts = [_impact_band(milestones, x, band_top, axis_y, now)]
    parts.append(_axis(start, end, x, axis_y))
    if ongoing:
        parts.append(_now_line(x(now.timestamp()), band_top, axis_y))
    for milestone, row in zip(milestones, rows, strict=True):
        parts.append(_marker(milestone, row, x, axis_y, end - start))
    lane_y = axis_y + 58
    if alerts:
        parts.append(text(LEFT, lane_y - 16, f"Alerts ({len(alerts)})", fill=MUTED))
    stacks = _alert_rows(alerts, x)
    for alert, stack in zip(alerts, stacks, strict=True):
        parts.append(_alert(alert, x, lane_y + stack * 14, end - start))
    height = int(lane_y + max(stacks) * 14 + 24) if alerts else int(axis_y + 32)
    desc = (
        f"{len(milestones)} milestones and {len(alerts)} alerts between "
        f"{time_label(start, end - start)} and {time_label(end, end - start)} UTC."
    )
    return frame(chart_id, title=title, desc=desc, width=WIDTH, height=height, body="".join(parts))


def _span(
    milestones: Sequence[Milestone], alerts: Sequence[AlertMark], now: datetime | None
) -> tuple[datetime, datetime]:
    """Return the axis range: every time shown, at least 10 minutes, with a margin."""
    times = [m.at for m in milestones] + [a.starts_at for a in alerts]
    times += [a.ends_at for a in alerts if a.ends_at is not None]
    if now is not None:
        times.append(now)
    start, end = min(times), max(times)
    if end - start < MIN_SPAN:
        middle = start + (end - start) / 2
        start, end = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
    margin = (end - start) * 0.04
    return start - margin, end + margin


def _label_text(milestone: Milestone, span: timedelta) -> str:
    """Return a marker's visible label: what happened and when (UTC)."""
    return f"{milestone.label} {time_label(milestone.at, span)}"


def _label_rows(milestones: Sequence[Milestone], x: Scale, span: timedelta) -> list[int]:
    """Give each label the first row where it does not overlap an earlier label."""
    ends = [float("-inf")] * MAX_ROWS
    rows = [0] * len(milestones)
    for index in sorted(range(len(milestones)), key=lambda i: milestones[i].at):
        lo, hi = _label_extent(milestones[index], x, span)
        free = next((r for r in range(MAX_ROWS) if ends[r] + 8 < lo), None)
        row = free if free is not None else min(range(MAX_ROWS), key=lambda r: ends[r])
        rows[index], ends[row] = row, hi
    return rows


def _label_extent(milestone: Milestone, x: Scale, span: timedelta) -> tuple[float, float]:
    """Return the horizontal pixels a label covers (right-aligned near the right edge)."""
    position = x(milestone.at.timestamp())
    width = len(_label_text(milestone, span)) * CHAR
    if position + 4 + width > RIGHT:
        return position - 4 - width, position
    return position, position + 4 + width


def _marker(milestone: Milestone, row: int, x: Scale, axis_y: float, span: timedelta) -> str:
    """Draw one milestone: a labelled vertical line ending in a dot on the axis."""
    colour = COLOURS.get(milestone.kind, MUTED)
    position = x(milestone.at.timestamp())
    label_y = 10 + ROW * row + 12
    label = _label_text(milestone, span)
    flip = position + 4 + len(label) * CHAR > RIGHT
    anchor, label_x = ("end", position - 4) if flip else ("start", position + 4)
    tip = f"{milestone.label}: {milestone.at:%Y-%m-%d %H:%M:%S} UTC"
    kind = esc(milestone.kind.replace("_", "-"))
    return (
        f'<g class="marker marker-{kind}"><title>{esc(tip)}</title>'
        + line(position, label_y + 4, position, axis_y, stroke=colour, width=2)
        + f'<circle cx="{num(position)}" cy="{num(axis_y)}" r="5" fill="{colour}"/>'
        + text(label_x, label_y, label, anchor=anchor, fill=colour)
        + "</g>"
    )


def _impact_band(
    milestones: Sequence[Milestone], x: Scale, top: float, bottom: float, now: datetime
) -> str:
    """Shade customer impact: impact start to mitigation (or resolution, or now)."""
    at = {m.kind: m.at for m in milestones}
    if "impact_started" not in at:
        return ""
    end = at.get("mitigated") or at.get("resolved") or now
    x0, x1 = x(at["impact_started"].timestamp()), x(end.timestamp())
    label = text(x0 + 6, top + 22, "customer impact", fill=RED) if x1 - x0 > 120 else ""
    return (
        f'<rect class="impact-band" x="{num(x0)}" y="{num(top)}" width="{num(max(x1 - x0, 2))}" '
        f'height="{num(bottom - top)}" fill="{RED}" fill-opacity="0.1"/>{label}'
    )


def _axis(start: datetime, end: datetime, x: Scale, axis_y: float) -> str:
    """Draw the time axis with round UTC ticks."""
    parts = [line(LEFT, axis_y, RIGHT, axis_y, stroke=MUTED, width=1.5)]
    for tick in time_ticks(start, end):
        position = x(tick.timestamp())
        parts.append(line(position, axis_y, position, axis_y + 5, stroke=MUTED))
        parts.append(
            text(position, axis_y + 18, time_label(tick, end - start), anchor="middle", fill=MUTED)
        )
    return "".join(parts)


def _now_line(position: float, top: float, axis_y: float) -> str:
    """Mark the present moment on an ongoing incident's axis."""
    return (
        '<g class="now"><title>now</title>'
        + line(position, top - 4, position, axis_y + 6, stroke=PURPLE, width=1.5, dash="4 3")
        + text(position - 4, top + 10, "now", anchor="end", fill=PURPLE)
        + "</g>"
    )


def _alert_rows(alerts: Sequence[AlertMark], x: Scale) -> list[int]:
    """Stack alerts that start within a few pixels of each other (at most five deep)."""
    placed: list[tuple[float, int]] = []
    rows: list[int] = []
    for alert in alerts:
        position = x(alert.starts_at.timestamp())
        near = [row for px, row in placed if abs(px - position) < 12]
        row = min(len(near), 4)
        placed.append((position, row))
        rows.append(row)
    return rows


def _alert(alert: AlertMark, x: Scale, y: float, span: timedelta) -> str:
    """Draw one alert: a diamond at its start and, if it ended, a line to its end."""
    position = x(alert.starts_at.timestamp())
    ended = ""
    until = "still firing"
    if alert.ends_at is not None:
        ended = line(position, y, x(alert.ends_at.timestamp()), y, stroke=PURPLE, width=2)
        until = f"ended {time_label(alert.ends_at, span)}"
    tip = f"{alert.label}: started {time_label(alert.starts_at, span)} UTC, {until}"
    diamond = (
        f"M{num(position)},{num(y - 6)} L{num(position + 6)},{num(y)} "
        f"L{num(position)},{num(y + 6)} L{num(position - 6)},{num(y)} Z"
    )
    return (
        f'<g class="alert-mark"><title>{esc(tip)}</title>{ended}'
        f'<path d="{diamond}" fill="{PURPLE}"/></g>'
    )
