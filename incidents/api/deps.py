"""FastAPI dependencies as ``Annotated`` aliases: settings, session, clock, authentication.

The ones that only read app state are ``async``: FastAPI runs a plain ``def`` dependency
in its thread pool, a hop that cost more than the dependency itself on every request.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from incidents.config import Settings
from incidents.errors import Unauthorized
from incidents.flows.ports import Clock, Notifier


async def get_settings(request: Request) -> Settings:
    """Return the settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session for one request; flows commit, anything left is rolled back."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


async def get_clock(request: Request) -> Clock:
    """Return the app's clock."""
    clock: Clock = request.app.state.clock
    return clock


async def get_notifier(request: Request) -> Notifier:
    """Return the app's notifier (Slack when configured)."""
    notifier: Notifier = request.app.state.notifier
    return notifier


SettingsDep = Annotated[Settings, Depends(get_settings)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]
SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def bearer_token(request: Request) -> str | None:
    """Return the bearer token of a request, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def tokens_match(given: str | None, expected: str) -> bool:
    """Compare a presented token with the configured one in constant time."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


async def require_api_token(request: Request, settings: SettingsDep) -> None:
    """Refuse /api/* requests without the configured API token (open when none is set)."""
    if settings.api_token is None:
        return
    if not tokens_match(bearer_token(request), settings.api_token.get_secret_value()):
        raise Unauthorized("missing or wrong API token: send Authorization: Bearer <token>")


ApiAuth = Depends(require_api_token)
