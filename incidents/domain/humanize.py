"""Human-readable durations ("12m 30s") for tables, Slack and documents."""

from __future__ import annotations

from datetime import timedelta

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_duration(value: timedelta | float | None, *, parts: int = 2) -> str:
    """Format a duration with its two largest units, e.g. '1h 5m' or '12m 30s'; '—' for None."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""
    remaining = round(abs(seconds))
    if remaining == 0:
        return "0s"
    pieces: list[str] = []
    for unit, size in _UNITS:
        amount, remaining = divmod(remaining, size)
        if amount or pieces:
            pieces.append(f"{amount}{unit}")
    kept = [piece for piece in pieces[:parts] if not piece.startswith("0")] or pieces[:1]
    return sign + " ".join(kept)
