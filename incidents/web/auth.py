"""Who may read the pages: everyone when no API token is set, else whoever proves the token.

With ``INCIDENTS_API_TOKEN`` set (the server may then listen beyond loopback) a request is
let in when it carries any of:

- HTTP Basic credentials whose password is the token (any user name) — for scripts, curl;
- ``Authorization: Bearer <token>``, as for ``/api/*``;
- the session cookie set by the login form at ``/ui/login``: ``v1.<expiry>.<mac>`` where the
  MAC is HMAC-SHA256 over ``v1.<expiry>`` with a key derived from the token (HMAC of a fixed
  label), so the cookie reveals nothing about the token, expires after 12 hours, and every
  cookie dies when the token changes. It is HttpOnly, SameSite=Strict, limited to ``/ui``,
  and Secure whenever the request or ``INCIDENTS_PUBLIC_URL`` is https.

Every comparison is constant-time. Refusals: a browser without credentials (its Accept
prefers HTML) is redirected (303) to the login form with the page it wanted; anything else,
and any wrong Basic or Bearer credentials, gets 401 with ``WWW-Authenticate: Basic``. A bad or
expired cookie counts as no credentials, and is cleared.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import quote

from fastapi import Depends, Request

from incidents.api.deps import ClockDep, SettingsDep, bearer_token, tokens_match
from incidents.config import Settings

COOKIE = "incidents_session"
# "/" so the runbook links (/runbooks/…) open in a signed-in browser too; the API never
# reads the cookie (it wants the bearer token), so the wider path opens nothing more.
COOKIE_PATH = "/"
LIFETIME = timedelta(hours=12)
VERSION = "v1"
KEY_LABEL = b"incidents web session cookie v1"
MAX_EXPIRY_DIGITS = 12
REALM = 'Basic realm="incidents", charset="UTF-8"'


class LoginRequired(Exception):
    """Raised by ``require_viewer``; the app answers with a redirect or a 401."""

    def __init__(self, target: str, *, wrong_credentials: bool, clear_cookie: bool) -> None:
        super().__init__("login required")
        self.target = target
        self.wrong_credentials = wrong_credentials
        self.clear_cookie = clear_cookie


def _key(token: str) -> bytes:
    """Derive the cookie-signing key from the API token (the token itself is never used)."""
    return hmac.new(token.encode(), KEY_LABEL, hashlib.sha256).digest()


def _mac(token: str, payload: str) -> str:
    """Return the URL-safe MAC of a cookie payload."""
    digest = hmac.new(_key(token), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_cookie(token: str, *, now: datetime) -> str:
    """Return a signed session value valid for ``LIFETIME`` from `now`."""
    payload = f"{VERSION}.{int((now + LIFETIME).timestamp())}"
    return f"{payload}.{_mac(token, payload)}"


def cookie_valid(value: str | None, token: str, *, now: datetime) -> bool:
    """Tell whether a session value was signed with this token and has not expired."""
    if not value:
        return False
    version, _, rest = value.partition(".")
    expiry, _, mac = rest.partition(".")
    if version != VERSION or not expiry.isdigit() or len(expiry) > MAX_EXPIRY_DIGITS:
        return False
    if not hmac.compare_digest(mac.encode(), _mac(token, f"{version}.{expiry}").encode()):
        return False
    return now.timestamp() < int(expiry)


def basic_password(request: Request) -> str | None:
    """Return the password of HTTP Basic credentials, if the request carries them."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def wants_html(request: Request) -> bool:
    """Tell whether the client is a browser that would rather see a login form."""
    return "text/html" in request.headers.get("accept", "")


def secure_cookies(request: Request, settings: Settings) -> bool:
    """Mark the cookie Secure when the page is (or is published as) https."""
    return request.url.scheme == "https" or settings.public_url.startswith("https://")


def safe_target(target: str | None) -> str:
    """Return a local /ui path to go back to, never another site (no open redirect)."""
    if not target or not target.startswith("/ui/") or "\\" in target or "//" in target:
        return "/ui/incidents"
    return target


def require_viewer(request: Request, settings: SettingsDep, clock: ClockDep) -> None:
    """Let the request in when no token is configured or it proves the token."""
    if settings.api_token is None:
        return
    token = settings.api_token.get_secret_value()
    password = basic_password(request)
    bearer = bearer_token(request)
    if password is not None or bearer is not None:
        if tokens_match(password, token) or tokens_match(bearer, token):
            return
        raise LoginRequired(_here(request), wrong_credentials=True, clear_cookie=False)
    cookie = request.cookies.get(COOKIE)
    if cookie_valid(cookie, token, now=clock.now()):
        return
    raise LoginRequired(_here(request), wrong_credentials=False, clear_cookie=cookie is not None)


def _here(request: Request) -> str:
    """Return the path and query of the request, to come back to after logging in."""
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def login_url(target: str) -> str:
    """Return the login form's URL that comes back to `target`."""
    return f"/ui/login?next={quote(safe_target(target), safe='')}"


Viewer = Depends(require_viewer)
