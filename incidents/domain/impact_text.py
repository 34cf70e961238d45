"""The impact figure in one checkable line: every input with its value, the hours, the total.

Example: "2,400 approvals/day × ΔPD 1–3% × LGD 45% × EAD €12,000 × 0.25 days = €2,430–€7,290".
"""

from __future__ import annotations

from collections.abc import Callable

from incidents.domain.impact import HOURS_PER_DAY, Estimate, Range
from incidents.domain.money import (
    format_count,
    format_number,
    format_price,
    format_range,
    format_share,
)

Formatter = Callable[[Range, str], str]

# How each input reads in the line: its label, then how its value is shown.
INPUTS: dict[str, Formatter] = {
    "affected_share": lambda r, _c: f"{format_share(r)} affected",
    "volume_per_hour": lambda r, _c: f"{format_number(r)}/h",
    "value_per_unit": lambda r, c: f"{format_price(r, c)} each",
    "approvals_per_day": lambda r, _c: f"{format_number(r)} approvals/day",
    "delta_pd": lambda r, _c: f"ΔPD {format_share(r)}",
    "lgd": lambda r, _c: f"LGD {format_share(r)}",
    "ead": lambda r, c: f"EAD {format_price(r, c)}",
    "delta_rate": lambda r, _c: f"Δrate {format_share(r)}",
}


def formula_line(figure: Estimate, currency: str) -> str:
    """Return the figure's inputs, exposure and total in one line a reader can recompute."""
    parts = [INPUTS[name](value, currency) for name, value in figure.inputs.items()]
    parts.append(exposure(figure))
    return f"{' × '.join(parts)} = {format_range(figure.total, currency)}"


def exposure(figure: Estimate) -> str:
    """Return the length of impact the way the model counts it (days for credit loss)."""
    if figure.model == "credit":
        return f"{_decimal(figure.hours / HOURS_PER_DAY, 3)} days"
    return f"{_decimal(figure.hours, 2)} h"


def affected_line(figure: Estimate) -> str:
    """Return how many transactions, approvals or sessions the impact reached so far."""
    return f"{format_count(figure.affected)} {figure.unit}"


def _decimal(value: float, places: int) -> str:
    """Show a number with at most `places` decimals and no trailing zeros."""
    return f"{value:.{places}f}".rstrip("0").rstrip(".") or "0"
