"""Who is on call now for a PagerDuty service, through the REST API v2 ``pagerduty`` client.

Two calls: ``GET /services/{id}`` names the service's escalation policy, then ``GET /oncalls``
with ``escalation_policy_ids[]``, ``include[]=users`` (emails in the same answer, so no call
per person) and ``earliest=true`` (one entry per policy, level and person), paginated by the
library. A person on several levels or schedules is listed once, at the lowest level (the one
paged first); among entries at that level the longest shift wins. The list is sorted by level,
then name. Shift ends are converted to aware UTC; ``None`` means on call indefinitely.

The client follows the same rules as the Events client (``incidents.paging.events``): https
only, optional private CA, 10 s timeout, one attempt per call. Errors: an unknown service is
``NotFound``; a refused token (401/403) is a permanent ``DeliveryFailed`` that never echoes
the token; 429, 5xx and network failures are retryable ``DeliveryFailed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx2
import pagerduty

from incidents.config import ENV_PREFIX, Settings
from incidents.errors import ConfigError, DeliveryFailed, IncidentsError, InvalidInput, NotFound
from incidents.paging.events import (
    answer_once,
    failure,
    http_options,
    https_base_url,
    raise_unless_success,
)

API_URL_SETTING = f"{ENV_PREFIX}PAGERDUTY_API_URL"
API_TOKEN_SETTING = f"{ENV_PREFIX}PAGERDUTY_API_TOKEN"
SERVICE_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")  # PagerDuty ids, e.g. PIJ90N7
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OnCall:
    """One person on call for a service now."""

    name: str
    email: str | None
    escalation_level: int
    schedule: str | None  # schedule name, or None for a direct assignment on the policy
    until: datetime | None  # end of the shift (aware UTC); None = indefinitely


class RestClient(pagerduty.RestApiV2Client):
    """A ``RestApiV2Client`` that makes one attempt per request (the caller decides retries)."""

    def __init__(self, api_key: str, *, base_url: str, **options: Any) -> None:
        super().__init__(api_key, base_url=base_url, **options)
        answer_once(self)

    def postprocess(self, response: httpx2.Response, suffix: str | None = None) -> None:
        """Keep the library's bookkeeping, then stop at the first non-2xx answer."""
        super().postprocess(response, suffix)
        raise_unless_success(response)


def rest_client(settings: Settings, *, transport: httpx2.BaseTransport | None = None) -> RestClient:
    """Build a REST API v2 client with the API token setting (no retries of its own)."""
    base_url = https_base_url(settings.pagerduty_api_url, API_URL_SETTING)
    token = settings.pagerduty_api_token.get_secret_value() if settings.pagerduty_api_token else ""
    if not token:
        raise ConfigError(f"PagerDuty look-ups need {API_TOKEN_SETTING}")
    return RestClient(token, base_url=base_url, **http_options(settings, transport))


def on_call_now(client: RestClient, *, service_id: str) -> list[OnCall]:
    """Return who is on call now for the service, lowest escalation level first."""
    if not SERVICE_ID.match(service_id):
        raise InvalidInput(f"{service_id!r} is not a PagerDuty service id", fields=["service_id"])
    service = _call(client, lambda: client.rget(f"/services/{service_id}"), service_id)
    policy = _policy_id(service, service_id)
    params = {"escalation_policy_ids": [policy], "include": ["users"], "earliest": "true"}
    entries = _call(client, lambda: list(client.iter_all("/oncalls", params=params)), service_id)
    return _people(entries)


def _call(client: RestClient, action: Callable[[], T], service_id: str) -> T:
    """Run one look-up, mapping the client's errors onto the toolkit's."""
    try:
        return action()
    except pagerduty.Error as exc:
        raise _failure(client, exc, service_id) from None


def _failure(client: RestClient, exc: pagerduty.Error, service_id: str) -> IncidentsError:
    """Say what went wrong without ever repeating the token."""
    status = exc.response.status_code if exc.response is not None else None
    if status == 404:
        return NotFound(f"PagerDuty has no service {service_id} (or the API token cannot see it)")
    if status in (401, 403):
        return DeliveryFailed(
            f"PagerDuty refused the API token (HTTP {status}): check {API_TOKEN_SETTING} "
            "and that its user may read services and on-calls",
            permanent=True,
        )
    return failure(exc, secret=client.auth_method.secret, where=client.url)


def _policy_id(service: Any, service_id: str) -> str:
    """Return the id of the service's escalation policy."""
    policy = service.get("escalation_policy") if isinstance(service, dict) else None
    if not isinstance(policy, dict) or not policy.get("id"):
        raise DeliveryFailed(f"pagerduty: service {service_id} came back without a policy")
    return str(policy["id"])


def _people(entries: list[dict[str, Any]]) -> list[OnCall]:
    """Keep each person once (lowest level, then longest shift) and sort by level, name."""
    best: dict[str, OnCall] = {}
    for entry in entries:
        user_id, person = _on_call(entry)
        current = best.get(user_id)
        if current is None or _precedence(person) < _precedence(current):
            best[user_id] = person
    return sorted(best.values(), key=lambda p: (p.escalation_level, p.name.casefold(), p.name))


def _precedence(person: OnCall) -> tuple[int, bool, float]:
    """Order one person's entries: lowest level first, then the shift that ends last."""
    if person.until is None:
        return (person.escalation_level, False, 0.0)
    return (person.escalation_level, True, -person.until.timestamp())


def _on_call(entry: dict[str, Any]) -> tuple[str, OnCall]:
    """Read one ``/oncalls`` entry (user included) into the user's id and an OnCall."""
    try:
        user = entry["user"]
        schedule = entry.get("schedule") or {}
        person = OnCall(
            name=str(user.get("name") or user.get("summary") or user["id"]),
            email=user.get("email") or None,
            escalation_level=int(entry["escalation_level"]),
            schedule=schedule.get("summary") or schedule.get("name") or None,
            until=_utc(entry.get("end")),
        )
        return str(user["id"]), person
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DeliveryFailed(f"pagerduty: unreadable on-call entry ({exc!r})") from None


def _utc(value: str | None) -> datetime | None:
    """Parse a PagerDuty time (rendered in the account's zone) as aware UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
