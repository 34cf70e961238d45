"""Request and response bodies of routing overrides (DESIGN §9)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from incidents.domain.refs import incident_key
from incidents.flows.overrides import guard_rail
from incidents.store.models import Override


class OverrideIn(BaseModel):
    """Route one model's slice elsewhere while the incident lasts."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(max_length=32, description="fallback, manual_review or block")
    model: str | None = Field(default=None, max_length=200, description="default: the incident's")
    slice: dict[str, str] | None = Field(
        default=None,
        max_length=20,
        description='e.g. {"language": "de,es,fr"}; default: the incident\'s',
    )
    target: str | None = Field(default=None, max_length=200, description="fallback or queue name")
    expires_at: datetime | None = Field(default=None, description="ends by itself at this time")
    actor: str | None = Field(default=None, max_length=200)


class OverrideOut(BaseModel):
    """One override, with whether it applies now and the traffic it moves."""

    id: int
    incident: str
    model: str
    slice: dict[str, str]
    slice_key: str
    action: str
    target: str | None
    traffic_share: float | None
    guard_rail: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None
    ended_reason: str | None
    active: bool

    @classmethod
    def of(cls, override: Override, *, now: datetime, incident_resolved: bool) -> OverrideOut:
        """Build from a stored override as of `now`."""
        assert override.id is not None
        expired = override.expires_at is not None and override.expires_at <= now
        active = override.ended_at is None and not expired and not incident_resolved
        return cls(
            id=override.id, incident=incident_key(override.incident_id), model=override.model,
            slice=override.slice, slice_key=override.slice_key, action=override.action,
            target=override.target, traffic_share=override.traffic_share,
            guard_rail=guard_rail(override), created_by=override.created_by,
            created_at=override.created_at, expires_at=override.expires_at,
            ended_at=override.ended_at, ended_reason=override.ended_reason, active=active,
        )  # fmt: skip


class OverrideListOut(BaseModel):
    """Overrides a serving layer applies (poll with If-None-Match: the ETag)."""

    overrides: list[OverrideOut]
