"""Credential checks shared by the adapters: bearer/basic tokens and HMAC signatures.

Everything compares in constant time (``hmac.compare_digest``) on the raw body bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from pydantic import SecretStr

from incidents.errors import BadSignature, Unauthorized
from incidents.ingest import Headers, header

TIMESTAMP_WINDOW_SECONDS = 300
MAX_TIMESTAMP_DIGITS = 12


def presented_token(headers: Headers) -> str | None:
    """Return the token of ``Authorization: Bearer <t>`` or the password of Basic auth."""
    value = header(headers, "authorization") or ""
    scheme, _, credentials = value.partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme == "bearer" and credentials:
        return credentials
    if scheme == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def same_secret(given: str | None, expected: str) -> bool:
    """Compare two secrets in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_token(headers: Headers, token: SecretStr | None) -> None:
    """Require the webhook token as bearer or basic-auth password (open when none is set)."""
    if token is None:
        return
    if not same_secret(presented_token(headers), token.get_secret_value()):
        raise Unauthorized(
            "missing or wrong webhook token: send Authorization: Bearer <token> "
            "(or basic auth with the token as password)"
        )


def hmac_hex(secret: str, message: bytes) -> str:
    """Return hex(HMAC-SHA256(secret, message))."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def require_hmac(
    body: bytes,
    *,
    signature: str | None,
    secret: str,
    timestamp: str | None = None,
    now: datetime | None = None,
) -> None:
    """Check a bare-hex HMAC of the body (or of ``timestamp:body``, within ±5 minutes)."""
    if not signature:
        raise BadSignature("missing signature header")
    message = body
    if timestamp is not None:
        _check_window(timestamp, now)
        message = timestamp.encode() + b":" + body
    given = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(given, hmac_hex(secret, message).encode()):
        raise BadSignature("signature does not match the body")


def _check_window(timestamp: str, now: datetime | None) -> None:
    """Refuse signed timestamps that are not numbers or lie outside the replay window."""
    if len(timestamp) > MAX_TIMESTAMP_DIGITS:
        raise BadSignature("signature timestamp is not a number of seconds")
    try:
        sent = int(timestamp)
    except ValueError:
        raise BadSignature("signature timestamp is not a number of seconds") from None
    if now is not None and abs(now.timestamp() - sent) > TIMESTAMP_WINDOW_SECONDS:
        raise BadSignature("signature timestamp is outside the 5-minute window")


def require_any_v1(body: bytes, *, header_value: str | None, secrets: Iterable[str]) -> None:
    """Accept a PagerDuty ``v1=<hex>[,v1=<hex>…]`` header if any entry matches any secret."""
    if not header_value:
        raise BadSignature("missing X-PagerDuty-Signature header")
    entries = [
        part.strip()[3:] for part in header_value.split(",") if part.strip().startswith("v1=")
    ]
    expected = [hmac_hex(secret, body) for secret in secrets]
    matched = False
    for entry in entries:
        for candidate in expected:
            given = entry.lower().encode("utf-8", "replace")
            matched |= hmac.compare_digest(given, candidate.encode())
    if not matched:
        raise BadSignature("no v1 signature matches a configured PagerDuty secret")
