"""Send PagerDuty Events API v2 events with the real ``pagerduty`` client (wire-formats §3.2).

Decisions:

- **The library builds the body.** ``send_event`` calls the client's ``trigger`` /
  ``send_event``, so what goes on the wire is exactly what ``pagerduty`` 7.x sends (the
  captured fixtures), routing key injected by the client.
- **The client's own retries are off; the outbox is the one place that retries, durably.**
  Out of the box the client retries 429 forever with growing sleeps, Events 5xx up to 6 times,
  and network errors 3 times, all inside one outbox delivery. Its ``retry`` table cannot say
  "never" for 429 (``0`` means the default, i.e. forever), so the clients built here stop in
  ``postprocess``, the hook the library runs after every response *before* it decides to
  retry: any non-2xx answer raises ``pagerduty.HttpError`` there. ``max_network_attempts = 0``
  makes the first transport error final (no sleep), and ``retry = {}`` drops the 5xx table.
- **Outcomes map onto** ``DeliveryFailed``: 2xx is done; 429 is retried after ``Retry-After``
  (else 30 s, PagerDuty's advice); 5xx, 408, timeouts, connection and TLS errors are retried;
  any other 4xx (an invalid event) is dead-lettered with PagerDuty's own error text.
- **The routing key is a secret**: it is never put in a message, and PagerDuty's text is
  redacted in case it quotes the key. Failures are raised ``from None`` so the library's
  exception (whose request carries the key in its body) is not chained into logs.
- **TLS**: ``INCIDENTS_PAGERDUTY_CA_BUNDLE`` becomes an ``ssl.SSLContext`` (httpx2 deprecates
  ``verify=<path>``); it replaces the system roots, as a private CA or TLS-inspecting proxy
  needs. A certificate failure says so and names that setting.
- **https only**: the client refuses other base URLs with its own ``UrlError``; the URL is
  checked first so start-up fails with a ``ConfigError`` naming the setting.

The helpers under "Client rules" are shared with ``incidents.paging.oncall``.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import pagerduty

from incidents.config import ENV_PREFIX, Settings
from incidents.errors import ConfigError, DeliveryFailed, InvalidInput

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
SEVERITY_TO_PAGERDUTY = {"SEV1": "critical", "SEV2": "error", "SEV3": "warning", "SEV4": "info"}
SUMMARY_LIMIT = 1024  # PagerDuty's limit on payload.summary
DEDUP_KEY_LIMIT = 255
TRIGGER_ONLY = ("summary", "source", "severity", "custom_details", "links", "timestamp")

TIMEOUT_SECONDS = 10  # the client annotates its timeout as int
DEFAULT_RETRY_AFTER = 30.0  # PagerDuty: retry a 429 after ~30 s
TEXT_LIMIT = 300
CA_BUNDLE_SETTING = f"{ENV_PREFIX}PAGERDUTY_CA_BUNDLE"
EVENTS_URL_SETTING = f"{ENV_PREFIX}PAGERDUTY_EVENTS_URL"
ROUTING_KEY_SETTING = f"{ENV_PREFIX}PAGERDUTY_ROUTING_KEY"


@dataclass(frozen=True, slots=True)
class PageEvent:
    """One Events API v2 event; validated on creation so a bad one never reaches the outbox."""

    action: str  # "trigger" | "acknowledge" | "resolve"
    dedup_key: str  # our incident key, e.g. "INC-42"
    summary: str | None = None  # trigger only; cut to 1024 chars with "…"
    source: str | None = None  # trigger only
    severity: str | None = None  # trigger only: critical | error | warning | info
    custom_details: dict[str, Any] | None = None
    links: list[dict[str, str]] | None = None  # [{"href": ..., "text": ...}]
    timestamp: str | None = None  # ISO 8601

    def __post_init__(self) -> None:
        """Refuse events PagerDuty would reject or silently drop parts of."""
        if self.action not in ACTIONS:
            raise InvalidInput(
                f"event action must be one of {', '.join(ACTIONS)}", fields=["action"]
            )
        if not self.dedup_key or len(self.dedup_key) > DEDUP_KEY_LIMIT:
            raise InvalidInput("dedup_key must be 1 to 255 characters", fields=["dedup_key"])
        if self.action == "trigger":
            self._check_trigger()
        else:
            given = [name for name in TRIGGER_ONLY if getattr(self, name) is not None]
            if given:
                raise InvalidInput(f"{self.action} takes only a dedup_key", fields=given)

    def _check_trigger(self) -> None:
        """Check what a trigger needs, and cut an over-long summary."""
        missing = [name for name in ("summary", "source") if not getattr(self, name)]
        if missing:
            raise InvalidInput("a trigger needs a summary and a source", fields=missing)
        if self.severity not in SEVERITIES:
            raise InvalidInput(
                f"severity must be one of {', '.join(SEVERITIES)}", fields=["severity"]
            )
        links: list[Any] = list(self.links or [])
        if any(
            not isinstance(link, dict) or not isinstance(link.get("href"), str) for link in links
        ):
            raise InvalidInput("every link needs an href", fields=["links"])
        if self.timestamp is not None:
            try:
                datetime.fromisoformat(self.timestamp)
            except ValueError:
                raise InvalidInput("timestamp is not ISO 8601", fields=["timestamp"]) from None
        assert self.summary is not None
        if len(self.summary) > SUMMARY_LIMIT:
            object.__setattr__(self, "summary", self.summary[: SUMMARY_LIMIT - 1] + "…")


def as_json(event: PageEvent) -> dict[str, Any]:
    """Return the event as a JSON object for an outbox payload (unset fields left out)."""
    return {name: value for name, value in asdict(event).items() if value is not None}


def from_json(data: dict[str, Any]) -> PageEvent:
    """Rebuild an event from ``as_json`` output, validating it again."""
    known = {field.name for field in fields(PageEvent)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"unknown page event fields: {', '.join(unknown)}", fields=unknown)
    return PageEvent(**data)


class EventsClient(pagerduty.EventsApiV2Client):
    """An ``EventsApiV2Client`` that makes one attempt per event and keeps the answer."""

    def __init__(self, routing_key: str, *, base_url: str, **options: Any) -> None:
        super().__init__(routing_key, base_url=base_url, **options)
        answer_once(self)
        self._answers = threading.local()  # the client may be shared by worker threads

    def postprocess(self, response: httpx2.Response) -> None:
        """Stop at PagerDuty's first answer (see the module docstring) and remember it."""
        super().postprocess(response)
        raise_unless_success(response)
        self._answers.last = response

    def last_answer(self) -> dict[str, Any]:
        """Return the JSON body of this thread's last accepted event."""
        response: httpx2.Response | None = getattr(self._answers, "last", None)
        body = response.json() if response is not None else None
        return body if isinstance(body, dict) else {}


def events_client(
    settings: Settings, routing_key: str, *, transport: httpx2.BaseTransport | None = None
) -> EventsClient:
    """Build an Events API v2 client for one routing key (no retries of its own)."""
    base_url = https_base_url(settings.pagerduty_events_url, EVENTS_URL_SETTING)
    if not routing_key:
        raise ConfigError(f"no PagerDuty routing key: set {ROUTING_KEY_SETTING} or the catalog's")
    return EventsClient(routing_key, base_url=base_url, **http_options(settings, transport))


def send_event(client: EventsClient, event: PageEvent) -> dict[str, Any]:
    """Send one event; return PagerDuty's status and dedup key, or raise DeliveryFailed."""
    try:
        dedup_key = _send(client, event)
    except pagerduty.Error as exc:
        raise failure(exc, secret=client.auth_method.secret, where=client.url) from None
    return {"status": client.last_answer().get("status"), "dedup_key": dedup_key}


def _send(client: EventsClient, event: PageEvent) -> str:
    """Hand the event to the library, which builds the body."""
    if event.action != "trigger":
        return str(client.send_event(event.action, dedup_key=event.dedup_key))
    assert event.summary is not None and event.source is not None and event.severity is not None
    dedup_key = client.trigger(
        event.summary,
        event.source,
        dedup_key=event.dedup_key,
        severity=event.severity,
        payload={"timestamp": event.timestamp} if event.timestamp else None,
        custom_details=event.custom_details,
        links=event.links,
    )
    return str(dedup_key)


# --- Client rules shared by the Events and REST clients --------------------------------------


def https_base_url(url: str, setting: str) -> str:
    """Return the base URL, or refuse it the way start-up should: naming the setting."""
    if not url.startswith("https://"):
        raise ConfigError(
            f"invalid setting {setting}: {url!r} is not an https:// URL "
            "(the pagerduty client refuses any other scheme)"
        )
    return url


def http_options(settings: Settings, transport: httpx2.BaseTransport | None) -> dict[str, Any]:
    """Return the httpx2 client options: the private CA when set, or a test transport."""
    options: dict[str, Any] = {}
    if settings.pagerduty_ca_bundle is not None:
        options["verify"] = _ca_context(settings.pagerduty_ca_bundle)
    if transport is not None:
        options["transport"] = transport
    return options


def _ca_context(bundle: Path) -> ssl.SSLContext:
    """Load the CA bundle into a verifying TLS context (it replaces the system roots)."""
    try:
        return ssl.create_default_context(cafile=str(bundle))
    except OSError as exc:  # missing, unreadable, or no PEM certificates (ssl.SSLError)
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"invalid setting {CA_BUNDLE_SETTING}: cannot load {bundle}: {reason}"
        ) from None


def answer_once(client: pagerduty.ApiClient) -> None:
    """Turn off the retries a ``postprocess`` hook does not reach, and set the timeout."""
    client.retry = {}
    client.max_network_attempts = 0
    client.timeout = TIMEOUT_SECONDS


def raise_unless_success(response: httpx2.Response) -> None:
    """Raise for any non-2xx answer, before the client can decide to retry it."""
    if not response.is_success:
        raise pagerduty.HttpError(f"HTTP {response.status_code}", response)


def failure(exc: pagerduty.Error, *, secret: str, where: str) -> DeliveryFailed:
    """Map a client error onto a retryable or permanent DeliveryFailed."""
    response = exc.response
    if response is None:
        return unreachable(exc, secret=secret, where=where)
    status = response.status_code
    said = redact(peer_text(response), secret)
    if status == 429:
        wait = retry_after(response)
        message = f"pagerduty: rate limited (HTTP 429), retry in {wait:g} s"
        return DeliveryFailed(message, retry_after=wait)
    transient = status >= 500 or status == 408 or response.is_success
    return DeliveryFailed(f"pagerduty: {said} (HTTP {status})", permanent=not transient)


def unreachable(exc: pagerduty.Error, *, secret: str, where: str) -> DeliveryFailed:
    """Describe a failure with no HTTP answer: TLS, timeout, or connection (all retried)."""
    causes = list(_causes(exc))
    certificate = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if certificate is not None:
        return DeliveryFailed(
            f"pagerduty: TLS certificate problem reaching {where}: "
            f"{certificate.verify_message or certificate}. If PagerDuty is reached through a "
            f"private CA or a TLS-inspecting proxy, set {CA_BUNDLE_SETTING} to its CA (PEM)"
        )
    if any(isinstance(c, httpx2.TimeoutException) for c in causes):
        return DeliveryFailed(f"pagerduty: no answer from {where} within {TIMEOUT_SECONDS:g} s")
    cause = next((c for c in causes if isinstance(c, httpx2.TransportError)), exc)
    detail = redact(f"{type(cause).__name__}: {cause}", secret)
    return DeliveryFailed(f"pagerduty unreachable at {where}: {_clip(detail)}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield the exception and what caused it, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def retry_after(response: httpx2.Response) -> float:
    """Return the wait PagerDuty asked for in seconds, else its advised 30 s."""
    try:
        wait = float(response.headers.get("retry-after", ""))
    except ValueError:  # absent, or an HTTP date
        return DEFAULT_RETRY_AFTER
    return wait if wait >= 0 else DEFAULT_RETRY_AFTER


def peer_text(response: httpx2.Response) -> str:
    """Return PagerDuty's own words for an error (Events or REST error body)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("error", body)  # REST nests the error; Events does not
        if isinstance(detail, str):
            return _clip(detail)
        if isinstance(detail, dict):
            errors = [str(item) for item in detail.get("errors") or []]
            parts = [str(detail.get("message") or ""), "; ".join(errors)]
            text = ": ".join(part for part in parts if part)
            if text:
                return _clip(text)
    return _clip(response.text.strip()) or response.reason_phrase or "no error text"


def redact(text: str, secret: str) -> str:
    """Hide a secret in text that came from elsewhere."""
    return text.replace(secret, "[redacted]") if secret else text


def _clip(text: str) -> str:
    """Keep error text short enough for a log line and the outbox record."""
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
