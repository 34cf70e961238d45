"""One pure adapter per alert source (DESIGN §5).

Every adapter module exposes ``ADAPTER``, an ``Adapter`` with:

- ``verify(headers, body, settings, now)``: authenticate the raw bytes *before* parsing;
  raise ``Unauthorized``/``BadSignature``. Header names are matched case-insensitively
  (callers pass Starlette headers or a dict with lower-case keys).
- ``parse(payload, received_at, params)``: turn decoded JSON into ``Alert`` values; raise
  ``InvalidInput`` naming the fields for the wrong shape. Never mutates its input.
- ``delivery_key(headers, body)``: the idempotency key of a delivery (default: SHA-256 of
  the raw body; PagerDuty uses its webhook id).

Adapters import only ``domain``, ``errors`` and ``config``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incidents.config import Settings
from incidents.domain.alert import Alert

Headers = Mapping[str, str]
Verify = Callable[[Headers, bytes, Settings, datetime], None]
Parse = Callable[[Any, datetime, Mapping[str, str]], list[Alert]]
DeliveryKey = Callable[[Headers, bytes], str]


def printable_key(name: object) -> str:
    """A sender's key as it may appear in an error's field path: control characters
    escaped, so the message stays one line (a log line, a JSON detail) whatever it holds."""
    text = str(name)
    return text if text.isprintable() else json.dumps(text, ensure_ascii=False)[1:-1]


def body_digest(_headers: Headers, body: bytes) -> str:
    """Return the SHA-256 of the raw body: identical redeliveries share it."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class Adapter:
    """The contract of one alert source."""

    source: str
    verify: Verify
    parse: Parse
    delivery_key: DeliveryKey = body_digest
    # How long a repeated body counts as a redelivery (senders retry within minutes).
    delivery_memory: timedelta = timedelta(hours=24)


def header(headers: Headers, name: str) -> str | None:
    """Return a header value by case-insensitive name."""
    value = headers.get(name) or headers.get(name.lower())
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None
