"""Every route of the app, found by walking the app itself (so a new route is covered the day
it is added): without credentials, with wrong ones, it answers 401 (or sends a browser to the
login form) and writes nothing. Only the health and Prometheus routes are open."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.store.db import build_engine

API_TOKEN = "api-token-for-the-auth-table"
WEBHOOK_TOKEN = "webhook-token-for-the-auth-table"
# Open on purpose: health and Prometheus scrapes, the redirect to the pages, the pages'
# stylesheet, and the login form itself (posting it with a wrong token is refused below).
OPEN = {"/healthz", "/readyz", "/metrics", "/", "/ui/static/{name}"}
OPEN_METHODS = {("GET", "/ui/login")}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PARAMETERS = {"ref": "1", "source": "alertmanager", "name": "recsys-availability",
              "override_id": "1", "action_id": "1", "position": "1", "n": "1"}  # fmt: skip
TABLES = ("incidents", "timeline", "alerts", "outbox", "overrides", "slo_buckets",
          "release_checks", "postmortems", "deliveries")  # fmt: skip
WRONG = [None, "Bearer wrong-token", f"Bearer {WEBHOOK_TOKEN}", "Basic dXNlcjp3cm9uZw=="]


def _routes() -> list[tuple[str, str]]:
    """Return (method, path) of every route the app serves, except the open ones."""
    engine = build_engine("sqlite://")
    app = create_app(Settings(database_url="sqlite://"), engine=engine, run_worker=False)
    found = [
        (method, path)
        for path, route in _flatten(app.routes, "")
        if path not in OPEN | DOCS
        for method in sorted((route.methods or set()) - {"HEAD"})
        if (method, path) not in OPEN_METHODS
    ]
    engine.dispose()
    return found


def _flatten(routes: list[Any], prefix: str) -> list[tuple[str, APIRoute]]:
    """Walk included routers (FastAPI keeps them as wrappers) down to their routes."""
    found: list[tuple[str, APIRoute]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            found.extend(_flatten(route.original_router.routes, inner))
    return found


def _url(path: str) -> str:
    """Fill a route's path parameters with plausible values."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PARAMETERS.get(m.group(1), "x"), path)


@pytest.fixture
def guarded(database_url, engine):
    settings = Settings(
        database_url=database_url, api_token=API_TOKEN, webhook_token=WEBHOOK_TOKEN,
        slack_signing_secret="slack-signing-secret-auth-table",
        slack_bot_token="xoxb-auth-table", slack_api_url="http://127.0.0.1:9/",
    )  # fmt: skip
    with TestClient(create_app(settings, engine=engine, run_worker=False)) as client:
        yield client


def _counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                for t in TABLES}  # fmt: skip


ROUTES = _routes()


def test_the_table_covers_the_whole_app():
    paths = {path for _method, path in ROUTES}
    assert {"/api/incidents", "/api/slos/{name}/events", "/api/releases/check",
            "/api/overrides", "/webhooks/{source}", "/slack/events"} <= paths  # fmt: skip


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("credentials", WRONG)
def test_every_route_refuses_missing_or_wrong_credentials(guarded, engine, method, path,
                                                          credentials):  # fmt: skip
    if credentials == f"Bearer {WEBHOOK_TOKEN}" and path.startswith(("/webhooks", "/v2")):
        return  # the right credential for alert senders: their own tests cover it
    before = _counts(engine)
    headers = {"Authorization": credentials} if credentials else {}
    body = {"title": "x", "text": "y", "routing_key": "wrong", "event_action": "trigger"}
    response = guarded.request(method, _url(path), headers=headers, json=body,
                               follow_redirects=False)  # fmt: skip
    if path.startswith("/ui") and response.status_code in (303, 307):
        assert "/ui/login" in response.headers["location"]
    elif path == "/v2/enqueue":  # PagerDuty's wire format: a wrong routing key is refused
        assert response.status_code in (400, 401), response.text
    else:
        assert response.status_code == 401, (method, path, response.status_code, response.text)
    assert API_TOKEN not in response.text and WEBHOOK_TOKEN not in response.text
    assert _counts(engine) == before
