"""Request and response bodies of ``POST /api/slices/scan`` (DESIGN §9)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from incidents.domain.slices import ScanResult, SliceResult
from incidents.domain.stats import MAX_COUNT


class Counts(BaseModel):
    """Good outcomes out of all, in one period."""

    model_config = ConfigDict(extra="forbid")

    successes: int = Field(ge=0, le=MAX_COUNT)
    total: int = Field(ge=0, le=MAX_COUNT)


class SliceIn(BaseModel):
    """One slice's counts in the reference and the current period."""

    model_config = ConfigDict(extra="forbid")

    slice: dict[str, str] = Field(min_length=1, max_length=10)
    reference: Counts
    current: Counts


class ScanIn(BaseModel):
    """Which model, which slices, and how strict to be."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    metric: str = Field(default="success_rate", min_length=1, max_length=100)
    service: str | None = Field(default=None, max_length=200)
    model_version: str | None = Field(default=None, max_length=100)
    window_start: datetime | None = Field(default=None, description="current period start")
    window_end: datetime | None = None
    slices: list[SliceIn] = Field(min_length=1, max_length=1000)
    q: float = Field(default=0.05, gt=0, lt=1, description="Benjamini–Hochberg FDR level")
    min_effect: float = Field(default=0.02, ge=0, lt=1, description="smallest drop to flag")
    min_n: int = Field(default=500, ge=1, description="current sessions needed to flag")
    page_effect: float = Field(default=0.05, ge=0, lt=1, description="drop that pages")
    page_severity: str = "SEV2"
    ticket_severity: str = "SEV3"
    open_incidents: bool = Field(default=False, description="open one incident per flagged slice")


class SliceOut(BaseModel):
    """One slice's verdict with the numbers behind it."""

    slice: dict[str, str]
    key: str
    verdict: str
    severity: str | None
    reason: str
    reference_rate: float | None
    current_rate: float | None
    drop: float | None
    current_interval: tuple[float, float] | None
    z: float | None
    p_value: float | None
    adjusted_p_value: float | None
    method: str | None
    reference_total: int
    current_total: int
    incident: str | None = None

    @classmethod
    def of(cls, found: SliceResult, incident: str | None) -> SliceOut:
        """Build from a domain result."""
        return cls(
            slice=found.slice, key=found.key, verdict=found.verdict, severity=found.severity,
            reason=found.reason, reference_rate=found.reference_rate,
            current_rate=found.current_rate, drop=found.drop,
            current_interval=found.current_interval, z=found.z, p_value=found.p_value,
            adjusted_p_value=found.adjusted_p_value, method=found.method,
            reference_total=found.reference_total, current_total=found.current_total,
            incident=incident,
        )  # fmt: skip


class AggregateOut(BaseModel):
    """The whole model: raw rates, and the current rate at the reference traffic mix."""

    reference_rate: float | None
    current_rate: float | None
    mix_adjusted_current_rate: float | None


class ScanOut(BaseModel):
    """Every slice's verdict, the flagged ones, the aggregates and any incidents."""

    model: str
    metric: str
    aggregate: AggregateOut
    flagged: list[str]
    slices: list[SliceOut]

    @classmethod
    def of(cls, model: str, metric: str, result: ScanResult, incidents: dict[str, str]) -> ScanOut:
        """Build from a scan and the incident keys per flagged slice."""
        return cls(
            model=model,
            metric=metric,
            aggregate=AggregateOut(
                reference_rate=result.reference_rate,
                current_rate=result.current_rate,
                mix_adjusted_current_rate=result.mix_adjusted_current_rate,
            ),
            flagged=[found.key for found in result.flagged],
            slices=[SliceOut.of(found, incidents.get(found.key)) for found in result.slices],
        )
