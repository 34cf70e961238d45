"""PagerDuty Events API v2 compatible intake: ``/webhooks/events-v2`` and ``/v2/enqueue``.

Anything that can page PagerDuty can point here instead, so the answers are PagerDuty's:
``202 {"status": "success", "message": "Event processed", "dedup_key": ...}`` and
``400 {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from incidents.api.accept import accept
from incidents.api.body import read_limited
from incidents.api.deps import SettingsDep
from incidents.api.errors import status_code_for
from incidents.api.routers.webhooks import JSON_BODY
from incidents.errors import IncidentsError, InvalidInput, MalformedPayload
from incidents.ingest import events_v2

RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": 'Event processed: {"status", "message", "dedup_key"}'},
    400: {"description": "invalid event (errors lists every problem) or unreadable JSON"},
    401: {"description": "missing or wrong token (bearer, or the token as routing_key)"},
    413: {"description": "body larger than INCIDENTS_MAX_BODY_BYTES"},
}

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/events-v2", status_code=202, responses=RESPONSES, openapi_extra=JSON_BODY)
@router.post("/v2/enqueue", status_code=202, responses=RESPONSES, openapi_extra=JSON_BODY)
async def enqueue(request: Request, settings: SettingsDep) -> JSONResponse:
    """Accept one Events API v2 event and answer exactly as PagerDuty does."""
    try:
        body = await read_limited(request, limit=settings.max_body_bytes)
    except IncidentsError as exc:
        return _refusal(exc, b"")
    try:
        state, headers = request.app.state, request.headers
        _, alerts = await accept(state, headers, events_v2.ADAPTER, body, params={})
    except IncidentsError as exc:
        return _refusal(exc, body)
    answer = {"status": "success", "message": "Event processed"}
    return JSONResponse({**answer, "dedup_key": events_v2.dedup_key_of(alerts)}, status_code=202)


def _refusal(error: IncidentsError, body: bytes) -> JSONResponse:
    """Answer an error in PagerDuty's shape."""
    if isinstance(error, MalformedPayload):
        content = {
            "status": "Unrecognized object",
            "message": "Event object format is unrecognized",
            "errors": ["JSON parse error"],
        }
        return JSONResponse(content, status_code=400)
    if isinstance(error, InvalidInput):
        content = {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": _problems(body) or [error.message],
        }
        return JSONResponse(content, status_code=400)
    code = status_code_for(error)
    content = {"status": error.code, "message": error.message, "errors": [error.message]}
    return JSONResponse(content, status_code=code)


def _problems(body: bytes) -> list[str]:
    """Return every validation problem of the event, as PagerDuty lists them."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(event, Mapping):
        return []
    return [message for _, message in events_v2.validation_problems(event)]
