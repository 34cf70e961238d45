"""Who may read the pages: open without an API token; with one, HTTP Basic (token as
password), a bearer token or the login form's signed cookie — nothing else."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.web.auth import COOKIE, LIFETIME, cookie_valid, issue_cookie

TOKEN = "web-pages-token-4f9a2c"
PAGES = (
    "/ui/incidents",
    "/ui/incidents/1",
    "/ui/metrics",
    "/ui/slos",
    "/ui/incidents/1/summary.html",
)
HTML = {"Accept": "text/html,application/xhtml+xml"}


def basic(password: str, user: str = "anyone") -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def app_client(settings: Settings, engine, clock) -> TestClient:
    return TestClient(create_app(settings, engine=engine, clock=clock))


@pytest.fixture
def guarded(database_url, engine, clock) -> Iterator[TestClient]:
    """A client of an app with an API token and one incident."""
    settings = Settings(database_url=database_url, api_token=TOKEN)
    with app_client(settings, engine, clock) as client:
        created = client.post(
            "/api/incidents",
            json={"title": "Checkout down"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 201
        yield client


def get(client: TestClient, path: str, headers: dict[str, str] | None = None):
    return client.get(path, headers=headers or {}, follow_redirects=False)


def login(client: TestClient, token: str, target: str = "/ui/incidents"):
    return client.post(
        "/ui/login",
        content=f"token={quote(token)}&next={quote(target)}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )


def test_without_a_token_configured_the_pages_are_open(client):
    assert get(client, "/ui/incidents").status_code == 200
    answer = get(client, "/ui/login?next=/ui/metrics")
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/metrics")


@pytest.mark.parametrize("path", PAGES)
def test_no_credentials_is_401_basic_for_clients_and_a_login_redirect_for_browsers(guarded, path):
    plain = get(guarded, path)
    assert plain.status_code == 401
    assert plain.headers["www-authenticate"].startswith('Basic realm="incidents"')
    assert 'href="/ui/login?next=' in plain.text
    browser = get(guarded, path, HTML)
    assert browser.status_code == 303
    assert browser.headers["location"] == f"/ui/login?next={quote(path, safe='')}"


@pytest.mark.parametrize(
    "headers",
    [
        basic("wrong-token"),
        basic(TOKEN[:-1]),
        {"Authorization": "Basic !!notbase64"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_wrong_credentials_are_401_even_for_browsers(guarded, headers):
    answer = get(guarded, "/ui/incidents", {**headers, **HTML})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "headers",
    [
        basic(TOKEN),
        basic(TOKEN, user=""),
        basic(TOKEN, user="ana"),
        {"Authorization": f"Bearer {TOKEN}"},
    ],
)
def test_the_token_as_basic_password_or_bearer_lets_in(guarded, headers):
    for path in PAGES:
        assert get(guarded, path, headers).status_code == 200, path


def test_the_login_form_sets_a_signed_strict_http_only_cookie_that_works(guarded):
    form = get(guarded, "/ui/login?next=/ui/metrics")
    assert form.status_code == 200
    assert '<label for="token">API token</label>' in form.text
    assert 'name="next" value="/ui/metrics"' in form.text
    answer = login(guarded, TOKEN, "/ui/metrics?group=severity")
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/metrics?group=severity")
    cookie = answer.headers["set-cookie"]
    for attribute in (
        "HttpOnly",
        "SameSite=strict",
        "Path=/",
        f"Max-Age={int(LIFETIME.total_seconds())}",
    ):
        assert attribute.lower() in cookie.lower(), attribute
    assert "secure" not in cookie.lower(), "plain http: a Secure cookie would never return"
    assert TOKEN not in cookie
    for path in PAGES:
        assert get(guarded, path).status_code == 200, path
    assert get(guarded, "/api/incidents").status_code == 401, "the cookie is not an API key"


def test_a_wrong_token_in_the_form_is_refused_without_a_cookie(guarded):
    answer = login(guarded, "not-the-token")
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "That is not the API token." in answer.text and 'aria-invalid="true"' in answer.text
    assert get(guarded, "/ui/incidents").status_code == 401


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/ui/x", "/api/incidents", "/ui/\\evil", ""]
)
def test_login_only_ever_returns_to_a_local_page(guarded, target):
    assert login(guarded, TOKEN, target).headers["location"] == "/ui/incidents"


def tampered(value: str) -> list[str]:
    version, expiry, mac = value.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    return [
        f"{version}.{expiry}.{flipped}",
        f"{version}.{int(expiry) + 3600}.{mac}",
        f"v2.{expiry}.{mac}",
        f"{version}.{expiry}",
        "garbage",
        "",
    ]


def test_a_tampered_cookie_is_refused_and_cleared(guarded, clock):
    good = issue_cookie(TOKEN, now=clock.now())
    for value in tampered(good):
        guarded.cookies.clear()
        headers = {"Cookie": f"{COOKIE}={value}"}
        assert get(guarded, "/ui/incidents", headers).status_code == 401, value
        browser = get(guarded, "/ui/incidents", {**headers, **HTML})
        assert browser.status_code == 303
        if value:
            assert f'{COOKIE}=""' in browser.headers["set-cookie"], "cleared"
    assert get(guarded, "/ui/incidents", {"Cookie": f"{COOKIE}={good}"}).status_code == 200


def test_an_expired_cookie_or_one_signed_with_another_token_is_refused(guarded, clock):
    assert login(guarded, TOKEN).status_code == 303
    clock.advance(seconds=LIFETIME.total_seconds() - 1)
    assert get(guarded, "/ui/incidents").status_code == 200
    clock.advance(seconds=2)
    assert get(guarded, "/ui/incidents").status_code == 401
    guarded.cookies.clear()
    other = issue_cookie("another-token-entirely", now=clock.now())
    assert get(guarded, "/ui/incidents", {"Cookie": f"{COOKIE}={other}"}).status_code == 401


def test_cookie_values_are_checked_in_full(clock):
    value = issue_cookie(TOKEN, now=clock.now())
    assert cookie_valid(value, TOKEN, now=clock.now())
    assert not cookie_valid(value, TOKEN + "x", now=clock.now())
    assert not cookie_valid("v1.99999999999999999999.abc", TOKEN, now=clock.now())
    assert not cookie_valid(None, TOKEN, now=clock.now())


def test_logging_out_forgets_the_cookie(guarded):
    login(guarded, TOKEN)
    answer = guarded.post("/ui/logout", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]
    assert get(guarded, "/ui/incidents").status_code == 401


def test_the_cookie_is_secure_when_the_pages_are_published_over_https(database_url, engine, clock):
    settings = Settings(
        database_url=database_url, api_token=TOKEN, public_url="https://incidents.example.com"
    )
    with app_client(settings, engine, clock) as client:
        assert "secure" in login(client, TOKEN).headers["set-cookie"].lower()


def test_the_stylesheet_and_the_form_need_no_credentials(guarded):
    assert get(guarded, "/ui/static/style.css").status_code == 200
    assert get(guarded, "/ui/login").status_code == 200
    assert get(guarded, "/ui/static/../../incidents.db").status_code == 404


def test_a_signed_in_browser_opens_runbook_links_but_not_the_api(guarded):
    login(guarded, TOKEN)
    runbook = guarded.get("/runbooks/model-drift", follow_redirects=False)
    assert runbook.status_code == 200 and runbook.text.startswith("---\ntitle: Model drift")
    assert guarded.get("/api/incidents").status_code == 401, "the cookie never opens the API"
