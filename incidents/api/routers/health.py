"""Liveness, readiness and Prometheus self-metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from incidents.store.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer while the process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or not at head"}})
def readyz(request: Request) -> JSONResponse:
    """Answer 200 only when the database is reachable and migrated to head."""
    head = request.app.state.migration_head
    try:
        current = current_revision(request.app.state.engine)
    except SQLAlchemyError as exc:
        reason = f"database unreachable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    if current != head:
        reason = f"database at revision {current}, expected {head}: run `incidents db upgrade`"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready", "revision": current})


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Expose request and incident metrics in the Prometheus text format."""
    body = generate_latest(request.app.state.telemetry.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
