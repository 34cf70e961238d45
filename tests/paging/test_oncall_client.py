"""Who is on call, through the real ``pagerduty`` REST client over ``httpx2.MockTransport``:
the two calls it makes, the people sorted and deduplicated with their emails, and how
PagerDuty's refusals map (unknown service, refused token, rate limit, outage)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest

from incidents.config import Settings
from incidents.errors import ConfigError, DeliveryFailed, InvalidInput, NotFound
from incidents.paging.oncall import OnCall, on_call_now, rest_client
from tests.fake_pagerduty import on_call, service

TOKEN = "u+Fake_REST_token_1234"
BERLIN = timezone(timedelta(hours=1))
END = datetime(2026, 11, 26, 9, 0, tzinfo=BERLIN)
CHECKOUT = service("PSVC123", name="checkout", escalation_policy_id="PEP0001")
ENTRIES = [
    on_call(user_id="PBOB", name="Bob", email="bob@example.com", level=2,
            escalation_policy_id="PEP0001", schedule="Secondary", end=END),
    on_call(user_id="PANN", name="Ann", email="ann@example.com", level=2,
            escalation_policy_id="PEP0001", schedule="Secondary", end=END),
    on_call(user_id="PCID", name="cid", email="cid@example.com", level=1,
            escalation_policy_id="PEP0001"),
    on_call(user_id="PANN", name="Ann", email="ann@example.com", level=1,
            escalation_policy_id="PEP0001", schedule="Primary", end=END),
]  # fmt: skip
Respond = Callable[[httpx2.Request], httpx2.Response]


def reply(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    """Answer with a body streamed as off the network.

    A body given as ``json=`` is read before the client sees it, so httpx2 never times it and
    ``response.elapsed`` (which the REST client's bookkeeping reads) raises RuntimeError.
    """
    data = json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    return httpx2.Response(status, headers=all_headers, content=iter([data]))


def pagerduty(request: httpx2.Request) -> httpx2.Response:
    """Answer like PagerDuty for the checkout service and its policy."""
    if request.url.path == "/services/PSVC123":
        return reply(200, {"service": CHECKOUT})
    if request.url.path == "/oncalls":
        page = {"oncalls": ENTRIES, "limit": 100, "offset": 0, "more": False, "total": None}
        return reply(200, page)
    return reply(404, {"error": {"message": "Not Found", "code": 2100}})


class Peer:
    """Records requests, answers through `respond`."""

    def __init__(self, respond: Respond = pagerduty) -> None:
        self.requests: list[httpx2.Request] = []
        self.respond = respond

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.respond(request)


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    """Fail at once if the client ever tries to wait and retry on its own."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"the pagerduty client slept {seconds} s to retry by itself")

    monkeypatch.setattr(time, "sleep", refuse)


def ask(peer: Peer, service_id: str = "PSVC123", **settings: Any) -> list[OnCall]:
    config = Settings(pagerduty_api_token=TOKEN, **settings)
    client = rest_client(config, transport=httpx2.MockTransport(peer))
    return on_call_now(client, service_id=service_id)


def test_people_sorted_by_level_then_name_once_each_with_emails():
    until = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert ask(Peer()) == [
        OnCall(name="Ann", email="ann@example.com", escalation_level=1, schedule="Primary",
               until=until),
        OnCall(name="cid", email="cid@example.com", escalation_level=1, schedule=None,
               until=None),
        OnCall(name="Bob", email="bob@example.com", escalation_level=2, schedule="Secondary",
               until=until),
    ]  # fmt: skip


def test_asks_for_the_services_policy_with_users_included_and_earliest_only():
    peer = Peer()
    ask(peer)
    services, oncalls = peer.requests
    assert str(services.url) == "https://api.pagerduty.com/services/PSVC123"
    assert oncalls.url.path == "/oncalls"
    query = oncalls.url.params
    assert query.get_list("escalation_policy_ids[]") == ["PEP0001"]
    assert query.get_list("include[]") == ["users"]
    assert query["earliest"] == "true"
    for request in peer.requests:
        assert request.headers["authorization"] == f"Token token={TOKEN}"
        assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"


def test_a_shift_without_end_is_indefinite_and_times_are_utc():
    people = ask(Peer())
    assert {p.name: p.until for p in people}["cid"] is None
    assert all(p.until is None or p.until.tzinfo is UTC for p in people)


def test_the_longer_shift_wins_when_one_person_is_on_a_level_twice():
    short = on_call(user_id="PDAN", name="Dan", email="dan@example.com", level=1,
                    escalation_policy_id="PEP0001", schedule="Day", end=END)  # fmt: skip
    forever = on_call(user_id="PDAN", name="Dan", email="dan@example.com", level=1,
                      escalation_policy_id="PEP0001")  # fmt: skip

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oncalls":
            return reply(200, {"oncalls": [short, forever], "more": False})
        return pagerduty(request)

    assert ask(Peer(answer)) == [
        OnCall(name="Dan", email="dan@example.com", escalation_level=1, schedule=None, until=None)
    ]


def test_unknown_service_is_not_found():
    with pytest.raises(NotFound, match="PNOPE42"):
        ask(Peer(), service_id="PNOPE42")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_permanent_and_never_echoed(status):
    body = {"error": {"message": f"token {TOKEN} refused", "code": 2006}}
    peer = Peer(lambda _r: reply(status, body))
    with pytest.raises(DeliveryFailed) as caught:
        ask(peer)
    failure = caught.value
    assert failure.permanent
    assert "PagerDuty refused the API token" in failure.message
    assert TOKEN not in failure.message
    assert len(peer.requests) == 1


def test_rate_limit_is_retryable_after_retry_after():
    peer = Peer(lambda _r: reply(429, {}, {"Retry-After": "12"}))
    with pytest.raises(DeliveryFailed) as caught:
        ask(peer)
    assert (caught.value.permanent, caught.value.retry_after) == (False, 12.0)
    assert len(peer.requests) == 1


def test_outage_on_the_second_call_is_retryable_after_one_attempt():
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/oncalls":
            return reply(503, {"error": {"message": "Service Unavailable"}})
        return pagerduty(request)

    peer = Peer(answer)
    with pytest.raises(DeliveryFailed, match="Service Unavailable") as caught:
        ask(peer)
    assert not caught.value.permanent
    assert len(peer.requests) == 2


def test_unreachable_pagerduty_is_retryable():
    def broken(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    peer = Peer(broken)
    with pytest.raises(DeliveryFailed, match="unreachable") as caught:
        ask(peer)
    assert not caught.value.permanent
    assert len(peer.requests) == 1


def test_a_service_id_that_is_not_an_id_is_refused_without_asking():
    peer = Peer()
    with pytest.raises(InvalidInput):
        ask(peer, service_id="../users")
    assert peer.requests == []


def test_plain_http_api_url_and_missing_token_are_config_errors():
    with pytest.raises(ConfigError, match="INCIDENTS_PAGERDUTY_API_URL"):
        rest_client(Settings(pagerduty_api_token=TOKEN, pagerduty_api_url="http://pd.internal"))
    with pytest.raises(ConfigError, match="INCIDENTS_PAGERDUTY_API_TOKEN"):
        rest_client(Settings(pagerduty_api_token=None))
