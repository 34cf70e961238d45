"""GET /api/oncall?service=: who is on call now for a service (PagerDuty REST API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from incidents.api.deps import ApiAuth, SettingsDep
from incidents.api.routers.incidents import ERRORS
from incidents.paging.directory import who_is_on_call

router = APIRouter(prefix="/api", tags=["on-call"], dependencies=[ApiAuth])


class OnCallPerson(BaseModel):
    """One person on call."""

    name: str
    email: str | None
    escalation_level: int
    schedule: str | None
    until: datetime | None


class OnCallOut(BaseModel):
    """Who is on call for a service, most immediate escalation level first."""

    service: str
    pagerduty_service: str
    on_call: list[OnCallPerson]


@router.get("/oncall", responses={**ERRORS, 502: {"description": "PagerDuty failed"},
                                  503: {"description": "PagerDuty not configured"}})  # fmt: skip
def get_oncall(
    settings: SettingsDep,
    service: Annotated[str, Query(min_length=1, max_length=200,
                                  description="catalog service or model, or a PagerDuty id")],
) -> OnCallOut:  # fmt: skip
    """List who is on call now for the service's escalation policy."""
    found = who_is_on_call(service, settings=settings)
    people = [OnCallPerson(name=p.name, email=p.email, escalation_level=p.escalation_level,
                           schedule=p.schedule, until=p.until) for p in found.people]  # fmt: skip
    return OnCallOut(service=found.service, pagerduty_service=found.pagerduty_service,
                     on_call=people)  # fmt: skip
