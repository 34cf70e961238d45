"""Map the toolkit's error tree to HTTP answers, in exactly one place."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from incidents.errors import (
    Conflict,
    DeliveryFailed,
    IllegalTransition,
    IncidentsError,
    InvalidInput,
    MalformedPayload,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)

log = logging.getLogger(__name__)

STATUS_CODES: dict[type[IncidentsError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    MalformedPayload: 400,
    PayloadTooLarge: 413,
    Unauthorized: 401,
    NotConfigured: 503,
    DeliveryFailed: 502,
}


def status_code_for(error: IncidentsError) -> int:
    """Return the HTTP status of an error (the nearest class in the table wins)."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def error_body(error: IncidentsError) -> dict[str, Any]:
    """Return the JSON body for an error: message, code and the details it carries."""
    body: dict[str, Any] = {"detail": error.message, "error": error.code}
    if isinstance(error, InvalidInput) and error.fields:
        body["fields"] = error.fields
    if isinstance(error, IllegalTransition):
        body["status"] = error.status
    return body


async def _incidents_error(_request: Request, exc: Exception) -> JSONResponse:
    """Answer a known error."""
    assert isinstance(exc, IncidentsError)
    code = status_code_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(error_body(exc), status_code=code, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Answer 400 for unreadable JSON, 422 naming the fields for the wrong shape."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
        return JSONResponse(
            {"detail": f"body is not valid JSON: {reason}", "error": "malformed_payload"},
            status_code=400,
        )
    fields = sorted({".".join(str(part) for part in err["loc"][1:]) for err in errors})
    detail = [{"loc": err["loc"], "msg": err["msg"], "type": err["type"]} for err in errors]
    return JSONResponse(
        {"detail": detail, "error": "validation_error", "fields": fields}, status_code=422
    )


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    """Log an unexpected error under a fresh id and show only that id."""
    error_id = uuid.uuid4().hex
    log.error("unexpected error %s: %s", error_id, type(exc).__name__, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error", "error": "internal", "error_id": error_id}, status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(IncidentsError, _incidents_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
