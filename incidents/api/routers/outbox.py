"""GET /api/outbox: what is waiting, delivered or dead-lettered (newest first)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from incidents.api.deps import ApiAuth, SessionDep
from incidents.api.routers.incidents import ERRORS
from incidents.errors import InvalidInput
from incidents.store import outbox as store
from incidents.store.outbox import OutboxState

router = APIRouter(prefix="/api", tags=["outbox"], dependencies=[ApiAuth])


class OutboxMessageOut(BaseModel):
    """One outbox message."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    topic: str
    state: str
    attempts: int
    incident_id: int | None
    next_attempt_at: datetime
    last_error: str | None
    payload: dict[str, Any]
    created_at: datetime
    delivered_at: datetime | None


@router.get("/outbox", responses=ERRORS)
def list_outbox(
    session: SessionDep,
    state: Annotated[str | None, Query(description="pending, delivering, done or dead")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OutboxMessageOut]:
    """List outbox messages, e.g. ``state=dead`` for what could not be delivered."""
    states = [part.strip() for part in (state or "").split(",") if part.strip()]
    unknown = [name for name in states if name not in {s.value for s in OutboxState}]
    if unknown:
        allowed = ", ".join(s.value for s in OutboxState)
        raise InvalidInput(f"unknown state {unknown[0]!r}: use {allowed}", fields=["state"])
    messages = store.list_messages(session, states=states or None, limit=limit)
    return [OutboxMessageOut.model_validate(message) for message in messages]
