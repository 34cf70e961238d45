"""Routing overrides: POST per incident, GET the active ones (ETag), DELETE one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status
from sqlmodel import Session

from incidents.api.deps import ApiAuth, ClockDep, NotifierDep, SessionDep, SettingsDep
from incidents.api.override_schemas import OverrideIn, OverrideListOut, OverrideOut
from incidents.api.routers.incidents import ERRORS
from incidents.catalog import load_catalog
from incidents.domain.refs import MAX_ID
from incidents.flows import overrides as flows
from incidents.store import overrides as store
from incidents.store.models import Incident, Override

router = APIRouter(prefix="/api", tags=["overrides"], dependencies=[ApiAuth])


@router.post("/incidents/{ref}/overrides", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def add_override(
    ref: str, body: OverrideIn, session: SessionDep, clock: ClockDep, settings: SettingsDep,
    notifier: NotifierDep,
) -> OverrideOut:  # fmt: skip
    """Route a slice to a fallback, manual review or a block; mitigates the incident if not yet."""
    request = flows.OverrideRequest(**body.model_dump())
    override = flows.apply_override(ref, request, catalog=load_catalog(settings.runbooks_dir),
                                    session=session, clock=clock, notifier=notifier)  # fmt: skip
    return _out(session, override, clock.now())


@router.get(
    "/overrides",
    response_model=OverrideListOut,
    responses={**ERRORS, 304: {"description": "unchanged since the ETag sent"}},
)
def get_overrides(
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    model: Annotated[str | None, Query(max_length=200)] = None,
    active: Annotated[bool, Query(description="only those in force now")] = True,
    if_none_match: Annotated[str | None, Header()] = None,
) -> OverrideListOut | Response:
    """The overrides a serving layer applies; send If-None-Match to get 304 when unchanged."""
    now = clock.now()
    found = (
        store.active(session, model=model, now=now)
        if active
        else store.listed(session, model=model)
    )
    body = OverrideListOut(overrides=[_out(session, o, now) for o in found])
    etag = '"' + hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    response.headers.update(headers)
    return body


@router.delete("/overrides/{override_id}", responses=ERRORS)
def delete_override(
    override_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SessionDep, clock: ClockDep, notifier: NotifierDep,
    actor: Annotated[str | None, Query(max_length=200)] = None,
) -> OverrideOut:  # fmt: skip
    """End an override now (it stays listed, ended, and on the incident's timeline)."""
    override = flows.end_override(override_id, actor=actor, session=session, clock=clock,
                                  notifier=notifier)  # fmt: skip
    return _out(session, override, clock.now())


def _out(session: Session, override: Override, now: datetime) -> OverrideOut:
    """Describe an override, knowing whether its incident is resolved."""
    incident = session.get(Incident, override.incident_id)
    resolved = incident is not None and incident.status == "resolved"
    return OverrideOut.of(override, now=now, incident_resolved=resolved)
