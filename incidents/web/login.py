"""The login form: trade the API token for a signed session cookie (see ``web.auth``).

Without a configured token there is nothing to sign in to, so the form redirects to the
list. A wrong token re-shows the form with 401 and says so; a right one sets the cookie and
goes back to the page the visitor wanted (a local /ui path only).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from incidents.api.body import read_limited
from incidents.api.deps import ClockDep, SettingsDep, tokens_match
from incidents.errors import PayloadTooLarge
from incidents.web.auth import (
    COOKIE,
    COOKIE_PATH,
    LIFETIME,
    issue_cookie,
    safe_target,
    secure_cookies,
)
from incidents.web.templating import render

FORM_LIMIT = 8 * 1024

router = APIRouter(prefix="/ui", include_in_schema=False)


def signed_out_page(template: str, *, status_code: int, **context: object) -> HTMLResponse:
    """Render a page for someone not signed in (no navigation state, no auto-refresh)."""
    context = {"page": "", "has_slos": False, "signed_in": False, "refresh_url": None, **context}
    return render(template, status_code=status_code, **context)


def login_form(target: str, *, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    """Render the form (with an error message after a failed attempt)."""
    return signed_out_page("login.html.j2", status_code=status_code, page="login",
                           title="Sign in", target=safe_target(target), error=error)  # fmt: skip


@router.get("/login", response_model=None)
def show_login(request: Request, settings: SettingsDep) -> Response:
    """Show the form, or go straight to the pages when no token is configured."""
    target = safe_target(request.query_params.get("next"))
    if settings.api_token is None:
        return RedirectResponse(target, status_code=303)
    return login_form(target)


@router.post("/login", response_model=None)
async def submit_login(request: Request, settings: SettingsDep, clock: ClockDep) -> Response:
    """Check the token in constant time; on success set the session cookie and go back."""
    try:
        body = await read_limited(request, limit=FORM_LIMIT)
    except PayloadTooLarge:
        return login_form("", error="The form was too large.", status_code=413)
    try:
        fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    except ValueError:
        return login_form("", error="The form had too many fields.", status_code=400)
    target = safe_target((fields.get("next") or [""])[0])
    if settings.api_token is None:
        return RedirectResponse(target, status_code=303)
    token = settings.api_token.get_secret_value()
    if not tokens_match((fields.get("token") or [""])[0], token):
        return login_form(target, error="That is not the API token.", status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        issue_cookie(token, now=clock.now()),
        max_age=int(LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, settings),
    )
    return response


@router.post("/logout", response_model=None)
def logout() -> Response:
    """Forget the session cookie and show the form again."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response
