"""POST /slack/events: every Slack request (commands, buttons, events) goes to Bolt."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from slack_bolt.request import BoltRequest
from starlette.concurrency import run_in_threadpool

from incidents.api.body import read_limited
from incidents.api.deps import SettingsDep
from incidents.errors import NotFound

router = APIRouter(tags=["slack"])


@router.post(
    "/slack/events",
    responses={
        401: {"description": "bad or stale signature"},
        404: {"description": "Slack is not configured"},
        413: {"description": "body over INCIDENTS_MAX_BODY_BYTES"},
    },
)
async def slack_events(request: Request, settings: SettingsDep) -> Response:
    """Verify and dispatch a Slack request; Events API retries are acknowledged, not redone."""
    bolt = request.app.state.bolt
    if bolt is None:
        raise NotFound("Slack is not configured (set INCIDENTS_SLACK_SIGNING_SECRET)")
    body = (await read_limited(request, limit=settings.max_body_bytes)).decode("utf-8", "replace")
    headers: dict[str, str | Sequence[str]] = {k: [v] for k, v in request.headers.items()}
    bolt_request = BoltRequest(body=body, query=request.url.query, headers=headers)
    if request.headers.get("x-slack-retry-num") and _signed(bolt, bolt_request):
        # Slack redelivers events it thinks were lost; the first delivery did the work.
        return Response(status_code=200, headers={"X-Slack-No-Retry": "1"})
    reply = await run_in_threadpool(bolt.dispatch, bolt_request)
    return Response(
        content=reply.body,
        status_code=reply.status,
        headers={k: v[0] for k, v in reply.headers.items() if v and k.lower() != "content-length"},
    )


def _signed(bolt: object, request: BoltRequest) -> bool:
    """Tell whether a request carries a valid, fresh Slack signature."""
    verifier = getattr(bolt, "_signing_secret", None)
    from slack_sdk.signature import SignatureVerifier

    if not isinstance(verifier, str):
        return False
    try:
        return SignatureVerifier(verifier).is_valid(
            body=request.raw_body,
            timestamp=request.headers.get("x-slack-request-timestamp", [""])[0],
            signature=request.headers.get("x-slack-signature", [""])[0],
        )
    except ValueError:  # a non-numeric timestamp
        return False
