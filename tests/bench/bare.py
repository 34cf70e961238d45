"""The physical limit of the HTTP stack on this machine: a bare Starlette endpoint that reads
the body and answers 202 — what ``tests/bench/ingest.py`` compares the real server with."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    """Read the whole body (as a webhook target must) and accept it."""
    await request.body()
    return Response(status_code=202)


app = Starlette(routes=[Route("/webhooks/{source}", accept, methods=["POST"])])
