"""The one error tree of the toolkit; each transport maps it to its own answers in one place.

Hierarchy::

    IncidentsError
    ├── NotFound                 → HTTP 404
    ├── Conflict                 → HTTP 409
    │   └── IllegalTransition    → HTTP 409 (carries the current status)
    ├── InvalidInput             → HTTP 422 (carries the offending fields)
    │   ├── OrderingViolation    → HTTP 422 (timestamps out of order)
    │   └── InvalidTime          → HTTP 422 (unparseable, future, DST gap or overlap)
    ├── MalformedPayload         → HTTP 400 (a sender's body could not be read)
    ├── PayloadTooLarge          → HTTP 413 (body over INCIDENTS_MAX_BODY_BYTES)
    ├── Unauthorized             → HTTP 401
    │   └── BadSignature         → HTTP 401 (HMAC or signing-secret mismatch)
    ├── NotConfigured            → HTTP 503 (an optional integration is not set up)
    ├── ConfigError              → start-up refused (one line naming the setting)
    └── DeliveryFailed           → an outbox delivery failed (retried or dead-lettered);
                                   HTTP 502 when a request needed the peer's answer

Domain code and flows raise these and never transport-specific exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence


class IncidentsError(Exception):
    """Base of every error the toolkit raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(IncidentsError):
    """Raised when a named record (incident, alert, ...) does not exist."""

    code = "not_found"


class Conflict(IncidentsError):
    """Raised when a request is valid but clashes with the record's current state."""

    code = "conflict"


class IllegalTransition(Conflict):
    """Raised when a lifecycle event is not allowed from the incident's current status."""

    code = "illegal_transition"

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


class InvalidInput(IncidentsError):
    """Raised when well-formed input breaks a rule; names the fields concerned."""

    code = "invalid_input"

    def __init__(self, message: str, *, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields = list(fields)


class OrderingViolation(InvalidInput):
    """Raised when a human or API write would put the incident's timestamps out of order."""

    code = "ordering_violation"


class InvalidTime(InvalidInput):
    """Raised when a human time is unparseable, in the future, or missing/ambiguous under DST."""

    code = "invalid_time"


class MalformedPayload(IncidentsError):
    """Raised when a sender's body cannot be read at all (not JSON, wrong encoding)."""

    code = "malformed_payload"


class PayloadTooLarge(IncidentsError):
    """Raised when a request body exceeds the configured size limit."""

    code = "payload_too_large"


class Unauthorized(IncidentsError):
    """Raised when credentials are missing or wrong."""

    code = "unauthorized"


class BadSignature(Unauthorized):
    """Raised when a request signature does not match the configured secret."""

    code = "bad_signature"


class NotConfigured(IncidentsError):
    """Raised when a request needs an integration (e.g. PagerDuty) that is not set up."""

    code = "not_configured"


class ConfigError(IncidentsError):
    """Raised when a setting is invalid; the message names the setting."""

    code = "config_error"


class DeliveryFailed(IncidentsError):
    """Raised by an outbox handler when a side effect could not be delivered.

    ``permanent`` failures (e.g. a 400 from the peer) are dead-lettered at once; others are
    retried, after ``retry_after`` seconds when the peer said so (HTTP 429 Retry-After).
    """

    code = "delivery_failed"

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
