"""The webhook hot path: ``POST /webhooks/<source>`` as a plain ASGI handler.

Why: under an alert storm FastAPI's per-request work (a dozen middleware layers, routing
through every router, dependency solving, response-model validation) cost the event loop
more than the delivery itself, and the loop shares one GIL with the group-commit writer.
A delivery to a known alert source is read, authenticated, parsed and applied here, and
answered with the same bytes the FastAPI route sends (202, ``{"alerts":…}``).

Only the happy path is served here. Everything else goes to the full FastAPI app with the
body already read replayed to it, so errors keep their documented shapes and headers:
an unknown source, PagerDuty (two-way sync) and Events v2 (their own routes), a body
without ``Content-Length`` or over the limit, any refused or malformed delivery, and a
failed commit (the full app tries once more and answers with the error; the idempotency
key makes a second attempt harmless). The FastAPI route stays, for the OpenAPI document
and as that fallback. The request metrics are recorded with the same labels either way.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incidents.api.accept import accept
from incidents.api.routers.webhooks import OWN_ROUTES  # sources with a route of their own
from incidents.ingest import Adapter, pagerduty
from incidents.ingest.registry import ADAPTERS

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)
PREFIX = "/webhooks/"
ROUTE = PREFIX + "{source}"  # the route template the metrics are labelled with
FAST: dict[str, Adapter] = {
    name: adapter
    for name, adapter in ADAPTERS.items()
    if name not in OWN_ROUTES and adapter.source != pagerduty.SOURCE
}
JSON_HEADER = (b"content-type", b"application/json")


class FastIntake:
    """Serve webhook deliveries for one app, handing anything unusual to the app itself."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._accepted: tuple[Any, Any] | None = None  # metric children, looked up once

    def adapter_for(self, scope: Scope) -> Adapter | None:
        """Return the adapter when this request is a delivery the hot path serves."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        return FAST.get(path[len(PREFIX) :]) if path.startswith(PREFIX) else None

    async def serve(
        self, adapter: Adapter, scope: Scope, receive: Receive, send: Send, *, full: ASGIApp
    ) -> None:
        """Apply the delivery and answer 202, or let the full app answer it."""
        started = time.perf_counter()
        state = self.app.state
        headers = Headers(scope=scope)
        messages: list[Message] = []
        body = await _read_body(receive, headers, state.settings.max_body_bytes, messages)
        if body is None:
            await full(scope, _replaying(messages, receive), send)
            return
        query: bytes = scope["query_string"]
        params = dict(QueryParams(query)) if query else {}
        try:
            result, _ = await accept(state, headers, adapter, body, params=params)
        except Exception as exc:  # noqa: BLE001 (the full app answers with the documented error)
            log.debug("webhook hot path declined: %s", type(exc).__name__)
            await full(scope, _replaying(messages, receive), send)
            return
        content = orjson.dumps(result.as_json())  # what the route sends (JSONResponse)
        length = (b"content-length", str(len(content)).encode())
        await send({"type": "http.response.start", "status": 202, "headers": [length, JSON_HEADER]})
        await send({"type": "http.response.body", "body": content})
        counted, timed = self._accepted_metrics()
        counted.inc()
        timed.observe(time.perf_counter() - started)

    def _accepted_metrics(self) -> tuple[Any, Any]:
        """Return the request counter and latency histogram of an accepted delivery."""
        if self._accepted is None:
            telemetry = self.app.state.telemetry
            self._accepted = (telemetry.requests.labels("POST", ROUTE, "202"),
                              telemetry.latency.labels("POST", ROUTE))  # fmt: skip
        return self._accepted


async def _read_body(
    receive: Receive, headers: Headers, limit: int, messages: list[Message]
) -> bytes | None:
    """Read a body of declared length within the limit; None leaves it to the full app.

    Every message taken from ``receive`` is kept in ``messages`` for the replay.
    """
    declared = headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > limit:
        return None
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None  # the client went away: the full app deals with it
        if not message.get("more_body", False):
            break
    body = b"".join(message.get("body", b"") for message in messages)
    return body if len(body) <= limit else None


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """Return a ``receive`` that gives the messages already read, then the rest."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
