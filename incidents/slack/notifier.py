"""Deliver Slack side effects from the outbox with the real ``slack_sdk`` client.

Each outbox topic has a handler. Slack's answers map onto the outbox's retry rules:
429 is retried after its ``Retry-After``; 5xx, timeouts and Slack's own transient errors are
retried with backoff; other errors (``invalid_blocks``, ``channel_not_found``…) can never
succeed and are dead-lettered with Slack's error code. The client's own retry handlers are
off: the outbox is the one place that retries, durably.

Exactly once at Slack: every posted message carries its outbox key in Slack message
metadata; when a delivery is repeated after a worker died (``Delivery.redelivery``), the
handler first looks for a message with that key and does not post twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from incidents.config import Settings
from incidents.errors import DeliveryFailed
from incidents.outbox.worker import Delivery, Handler

POST_MESSAGE = "slack.post_message"
UPDATE_MESSAGE = "slack.update_message"
CREATE_CHANNEL = "slack.create_channel"
INVITE = "slack.invite"
METADATA_EVENT = "incidents_outbox"
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
     "request_timeout"}
)  # fmt: skip
MAX_NAME_ATTEMPTS = 20
HISTORY_LIMIT = 200


def slack_client(settings: Settings) -> WebClient:
    """Build a WebClient for the configured workspace (no retries of its own)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=10)
    client.retry_handlers = []
    return client


def slack_handlers(client: WebClient) -> dict[str, Handler]:
    """Return the outbox handlers for Slack topics."""
    return {
        POST_MESSAGE: lambda delivery: _post(client, delivery),
        UPDATE_MESSAGE: lambda delivery: _update(client, delivery),
        CREATE_CHANNEL: lambda delivery: _create_channel(client, delivery),
        INVITE: lambda delivery: _invite(client, delivery),
    }


def _call(action: Callable[[], Any]) -> Any:
    """Run one Slack call, turning its failure into a retryable or permanent DeliveryFailed."""
    try:
        return action()
    except SlackApiError as exc:
        response = exc.response
        error = str(response.get("error", "unknown_error"))
        if response.status_code == 429:
            retry_after = float(response.headers.get("Retry-After", "1"))
            raise DeliveryFailed(f"slack: {error} (HTTP 429)", retry_after=retry_after) from None
        transient = response.status_code >= 500 or error in TRANSIENT_ERRORS
        message = f"slack: {error} (HTTP {response.status_code})"
        raise DeliveryFailed(message, permanent=not transient) from None
    except OSError as exc:  # connection refused, reset, timeout: Slack or the network is down
        raise DeliveryFailed(f"slack unreachable: {type(exc).__name__}: {exc}") from None


def _post(client: WebClient, delivery: Delivery) -> dict[str, Any]:
    """Post the message of a delivery."""
    return post(client, delivery, delivery.payload)


def post(client: WebClient, delivery: Delivery, payload: dict[str, Any]) -> dict[str, Any]:
    """Post a message once, joining a public channel first if the bot is not in it."""
    channel = payload["channel"]
    if delivery.redelivery:
        found = _find_posted(client, channel, delivery.key)
        if found is not None:
            return {"channel": channel, "ts": found}
    arguments = {
        "channel": channel,
        "text": payload.get("text", ""),
        "blocks": payload.get("blocks"),
        "metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": delivery.key}},
    }
    try:
        response = _call(lambda: client.chat_postMessage(**arguments))
    except DeliveryFailed as failure:
        if "not_in_channel" not in failure.message:
            raise
        _call(lambda: client.conversations_join(channel=channel))
        response = _call(lambda: client.chat_postMessage(**arguments))
    return {"channel": response["channel"], "ts": response["ts"]}


def _find_posted(client: WebClient, channel: str, key: str) -> str | None:
    """Return the ts of a message this outbox key already posted, if any."""
    history = _call(
        lambda: client.conversations_history(
            channel=channel, limit=HISTORY_LIMIT, include_all_metadata=True
        )
    )
    for message in history.get("messages", []):
        metadata = message.get("metadata") or {}
        if metadata.get("event_payload", {}).get("key") == key:
            return str(message["ts"])
    return None


def _update(client: WebClient, delivery: Delivery) -> dict[str, Any]:
    """Update the message of a delivery."""
    return update(client, delivery.payload)


def update(client: WebClient, payload: dict[str, Any]) -> dict[str, Any]:
    """Replace a posted message (idempotent: the last update wins)."""
    response = _call(
        lambda: client.chat_update(
            channel=payload["channel"],
            ts=payload["ts"],
            text=payload.get("text", ""),
            blocks=payload.get("blocks"),
        )
    )
    return {"channel": response["channel"], "ts": response["ts"]}


def _create_channel(client: WebClient, delivery: Delivery) -> dict[str, Any]:
    """Create ``#name``, or ``#name-2``, ``#name-3``… when the name is taken.

    On a redelivery the channel may already exist from the attempt that died: it is looked
    up by name first, so a crash never leaves a second channel behind.
    """
    base = str(delivery.payload["name"])
    if delivery.redelivery:
        existing = _find_channel(client, base)
        if existing is not None:
            return {"channel": existing, "name": base}
    for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
        name = base if attempt == 1 else f"{base[: 80 - 4]}-{attempt}"
        try:
            response = _call(partial(client.conversations_create, name=name))
        except DeliveryFailed as failure:
            if "name_taken" in failure.message:
                continue
            raise
        channel = response["channel"]
        return {"channel": channel["id"], "name": channel["name"]}
    raise DeliveryFailed(f"slack: no free channel name for {base!r}", permanent=True)


def _find_channel(client: WebClient, name: str) -> str | None:
    """Return the id of the channel called `name`, if the bot can see one."""
    listed = _call(
        lambda: client.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=1000
        )
    )
    for channel in listed.get("channels", []):
        if channel.get("name") == name:
            return str(channel["id"])
    return None


def _invite(client: WebClient, delivery: Delivery) -> dict[str, Any]:
    """Invite users to a channel; people already there are fine."""
    payload = delivery.payload
    invite(client, channel=payload["channel"], users=payload["users"])
    return {"channel": payload["channel"], "users": payload["users"]}


def invite(client: WebClient, *, channel: str, users: list[str]) -> None:
    """Invite users to a channel; people already there are fine."""
    try:
        _call(lambda: client.conversations_invite(channel=channel, users=",".join(users)))
    except DeliveryFailed as failure:
        if "already_in_channel" not in failure.message:
            raise
