"""Business impact of an incident in money, with every input allowed to be a range.

Models (reliability-math §6):

- generic: affected_share × volume_per_hour × value_per_unit × hours of impact;
- credit: approvals_per_day × ΔPD × LGD × EAD × days of exposure (expected credit loss on
  loans approved with under-estimated risk);
- conversion: Δrate × volume_per_hour × value_per_unit × hours (lost conversions, clicks or
  satisfied sessions).

Hours of impact run from impact start to mitigation, or to now while the incident is
ongoing. The cost of detection delay (impact start → detection, at the same rate) is given
separately, and only when the impact start was known rather than defaulted. Inputs are
magnitudes (never negative); a ``[low, high]`` input makes the result a range, low inputs
giving the low figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidents.errors import InvalidInput

HOURS_PER_DAY = 24.0


@dataclass(frozen=True, slots=True)
class Range:
    """A non-negative amount known to lie between low and high (equal when exact)."""

    low: float
    high: float

    def __mul__(self, other: Range) -> Range:
        """Multiply ranges of non-negative amounts."""
        return Range(self.low * other.low, self.high * other.high)

    def scaled(self, factor: float) -> Range:
        """Multiply by a plain non-negative number."""
        return Range(self.low * factor, self.high * factor)

    @property
    def exact(self) -> bool:
        """Tell whether the range is a single value."""
        return self.low == self.high


def as_range(value: float | Sequence[float], *, name: str, upper: float | None = None) -> Range:
    """Read a number or a [low, high] pair as a Range, refusing negatives and bad orders."""
    if isinstance(value, int | float):
        low = high = float(value)
    elif len(value) == 2:
        low, high = float(value[0]), float(value[1])
    else:
        raise InvalidInput(f"{name}: give a number or [low, high]", fields=[name])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidInput(f"{name}: must be a finite number", fields=[name])
    if low < 0 or high < 0 or low > high:
        raise InvalidInput(f"{name}: need 0 ≤ low ≤ high (got {low}, {high})", fields=[name])
    if upper is not None and high > upper:
        raise InvalidInput(f"{name}: must not exceed {upper}", fields=[name])
    return Range(low, high)


@dataclass(frozen=True, slots=True)
class Window:
    """When impact started, was detected and stopped (None while ongoing), and now."""

    impact_started_at: datetime
    detected_at: datetime
    mitigated_at: datetime | None
    now: datetime
    impact_start_known: bool

    @property
    def hours(self) -> float:
        """Return the hours of impact so far (to mitigation, else to now)."""
        end = self.mitigated_at or self.now
        return max((end - self.impact_started_at) / timedelta(hours=1), 0.0)

    @property
    def detection_delay_hours(self) -> float | None:
        """Return impact start → detection in hours, when the impact start is known."""
        if not self.impact_start_known:
            return None
        return max((self.detected_at - self.impact_started_at) / timedelta(hours=1), 0.0)


@dataclass(frozen=True, slots=True)
class Estimate:
    """The money at stake: total so far, the hourly rate, the detection-delay part."""

    model: str
    total: Range
    per_hour: Range
    hours: float
    ongoing: bool
    detection_delay: Range | None
    formula: str
    inputs: dict[str, Range]
    affected: Range
    unit: str


MODELS: dict[str, tuple[tuple[str, float | None], ...]] = {
    "generic": (("affected_share", 1.0), ("volume_per_hour", None), ("value_per_unit", None)),
    "credit": (("approvals_per_day", None), ("delta_pd", 1.0), ("lgd", 1.0), ("ead", None)),
    "conversion": (("delta_rate", 1.0), ("volume_per_hour", None), ("value_per_unit", None)),
}
# What the model's volume counts, for "how many were affected" in the summary's first line.
UNITS = {"generic": "transactions", "credit": "loan approvals", "conversion": "sessions"}
FORMULAS = {
    "generic": "affected share × volume per hour × value per unit × hours of impact",
    "credit": "approvals per day × ΔPD × LGD × EAD × days of exposure",
    "conversion": "Δrate × volume per hour × value per unit × hours of impact",
}


def estimate(model: str, values: Mapping[str, float | Sequence[float]], window: Window) -> Estimate:
    """Compute a model's impact over the window."""
    if model not in MODELS:
        raise InvalidInput(
            f"unknown impact model {model!r}: use {', '.join(MODELS)}", fields=["model"]
        )
    inputs = {name: _required(values, name, upper) for name, upper in MODELS[model]}
    per_hour = Range(1.0, 1.0)
    for value in inputs.values():
        per_hour = per_hour * value
    if model == "credit":
        per_hour = per_hour.scaled(1 / HOURS_PER_DAY)
    delay = window.detection_delay_hours
    return Estimate(
        model=model,
        total=per_hour.scaled(window.hours),
        per_hour=per_hour,
        hours=window.hours,
        ongoing=window.mitigated_at is None,
        detection_delay=None if delay is None else per_hour.scaled(delay),
        formula=FORMULAS[model],
        inputs=inputs,
        affected=_affected(model, inputs, window.hours),
        unit=UNITS[model],
    )


def _affected(model: str, inputs: dict[str, Range], hours: float) -> Range:
    """Count the transactions, approvals or sessions exposed to the impact so far."""
    if model == "credit":
        return inputs["approvals_per_day"].scaled(hours / HOURS_PER_DAY)
    exposed = inputs["volume_per_hour"].scaled(hours)
    return inputs["affected_share"] * exposed if model == "generic" else exposed


def _required(
    values: Mapping[str, float | Sequence[float]], name: str, upper: float | None
) -> Range:
    """Read one required input."""
    if name not in values or values[name] is None:
        raise InvalidInput(f"{name}: required for this impact model", fields=[name])
    return as_range(values[name], name=name, upper=upper)
