"""Bodies of the SLO and release-gate routes (DESIGN §11)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from incidents.domain.gate import Arm
from incidents.domain.stats import MAX_COUNT
from incidents.flows.slos import SloStatus

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
HIDDEN = frozenset({"objective", "period"})  # shown once, at the top of the SLO


class EventIn(BaseModel):
    """Good and total events at one moment (they count in that moment's minute)."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    good: int = Field(ge=0)
    total: int = Field(ge=0)


class SloOut(BaseModel):
    """One SLO now: budget, burn rates, alert state, time to exhaustion."""

    name: str
    service: str | None
    model: str | None
    description: str | None
    objective: float
    window_days: float
    sli_source: str
    sli: float | None
    budget: dict[str, Any]
    burn_rates: dict[str, float | None]
    alert: dict[str, Any]
    time_to_exhaustion_hours: float | None

    @classmethod
    def of(cls, found: SloStatus) -> SloOut:
        """Build from a computed status."""
        slo, alert = found.slo, found.alert
        exhaustion = found.time_to_exhaustion
        return cls(
            name=slo.name, service=slo.service, model=slo.model, description=slo.description,
            objective=slo.objective, window_days=slo.window.total_seconds() / 86400,
            sli_source=slo.sli, sli=found.sli,
            budget={k: v for k, v in asdict(found.budget).items() if k not in HIDDEN},
            burn_rates=found.burn_rates,
            alert={"firing": alert.firing, "severity": alert.severity, "reason": alert.reason,
                   "rules": list(alert.rules)},
            time_to_exhaustion_hours=None if exhaustion is None
            else exhaustion.total_seconds() / 3600,
        )  # fmt: skip


class EventsOut(BaseModel):
    """What a push stored and the SLO's alert state after it."""

    buckets: int
    alert: dict[str, Any]


class ArmIn(BaseModel):
    """One side of a canary comparison: requests and named success metrics."""

    model_config = ConfigDict(extra="forbid")

    good: int = Field(ge=0, le=MAX_COUNT)
    total: int = Field(ge=0, le=MAX_COUNT)
    metrics: dict[str, tuple[Count, Count]] = Field(
        default_factory=dict, max_length=50, description='e.g. {"click": [1200, 40000]}'
    )

    def arm(self) -> Arm:
        """Return the domain arm."""
        return Arm(good=self.good, total=self.total, metrics=dict(self.metrics))


class ReleaseCheckIn(BaseModel):
    """Ask the gate about one canary step."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=200, description="service or model")
    canary: ArmIn
    baseline: ArmIn
    slo: str | None = Field(default=None, max_length=200, description="default: the service's")
    budget_floor: float = Field(default=0.0, ge=0, lt=1)
    min_detectable_effect: float = Field(default=0.005, gt=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    power: float = Field(default=0.8, gt=0, lt=1)
