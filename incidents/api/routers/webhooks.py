"""Webhook intake: ``POST /webhooks/<source>`` for every alert source (DESIGN §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from incidents.api.accept import accept
from incidents.api.body import read_limited
from incidents.api.deps import SettingsDep
from incidents.api.schemas import ErrorOut
from incidents.errors import NotFound
from incidents.ingest.registry import ADAPTERS

JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "body is not valid JSON"},
    401: {"model": ErrorOut, "description": "missing or wrong credentials or signature"},
    404: {"model": ErrorOut, "description": "unknown source"},
    413: {"model": ErrorOut, "description": "body larger than INCIDENTS_MAX_BODY_BYTES"},
    422: {"model": ErrorOut, "description": "valid JSON of the wrong shape (names the fields)"},
}

router = APIRouter(tags=["webhooks"])


class WebhookOut(BaseModel):
    """What a delivery did."""

    alerts: int
    incidents: list[int]
    duplicate: bool


# Sources with an operation of their own under /webhooks (api/routers/events_v2): their path
# never reaches this one, and they answer in their own shapes, so this operation's
# documented source excludes them.
OWN_ROUTES = ("events-v2",)
SourcePath = Annotated[
    str, Path(description="the alert source", json_schema_extra={"not": {"enum": [*OWN_ROUTES]}})
]


@router.post("/webhooks/{source}", status_code=202, responses=ERRORS, openapi_extra=JSON_BODY)
async def receive_webhook(
    source: SourcePath, request: Request, settings: SettingsDep
) -> WebhookOut:
    """Accept alerts from a source; answer only after they are committed."""
    adapter = ADAPTERS.get(source)
    if adapter is None:
        raise NotFound(f"unknown source {source!r}: use one of {', '.join(sorted(ADAPTERS))}")
    body = await read_limited(request, limit=settings.max_body_bytes)
    params = dict(request.query_params)
    result, _ = await accept(request.app.state, request.headers, adapter, body, params=params)
    return WebhookOut(**result.as_json())
