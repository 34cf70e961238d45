"""Server-rendered pages for people who would rather look than read (DESIGN §2 ``web/``).

``/`` (browsers) → ``/ui/incidents`` (the list), ``/ui/incidents/{id}`` (one incident, with its
timeline chart), ``/ui/metrics`` (MTTx trends), ``/ui/slos`` (budgets and burn rates) and
``/ui/login``. Jinja2 templates and inline SVG built on the server (``charts``,
``timeline_chart``): no script, no external request, a strict Content-Security-Policy
(``security``). Access follows the API token (``auth``). ``install`` wires it into an app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from incidents.web import login, routes
from incidents.web.auth import COOKIE, COOKIE_PATH, REALM, LoginRequired, login_url, wants_html
from incidents.web.security import PageHeaders


async def _login_required(request: Request, exc: Exception) -> Response:
    """Redirect a browser without credentials to the form; 401 + Basic for anyone else."""
    assert isinstance(exc, LoginRequired)
    response: Response
    if wants_html(request) and not exc.wrong_credentials:
        response = RedirectResponse(login_url(exc.target), status_code=303)
    else:
        response = _unauthorized(exc.target)
    if exc.clear_cookie:
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


def _unauthorized(target: str) -> HTMLResponse:
    """Answer 401 asking for Basic credentials, with a link to the login form as the body."""
    response = login.signed_out_page("unauthorized.html.j2", status_code=401,
                                     title="Sign in required", login=login_url(target))  # fmt: skip
    response.headers["WWW-Authenticate"] = REALM
    return response


def install(app: FastAPI) -> None:
    """Add the pages, their access rule and their security headers to `app`."""
    app.include_router(routes.open_router)
    app.include_router(login.router)
    app.include_router(routes.router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_middleware(PageHeaders)
