"""Page routes: thin — read the query, build one view, render one template (DESIGN §2 web/).

Read-only: pages only GET. Every page except the login form and the stylesheet needs a
viewer (``auth.require_viewer``). Documents are served here too, so that a browser signed
in to the pages can open them without an API bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)

from incidents.api.deps import ClockDep, SessionDep, SettingsDep
from incidents.config import Settings
from incidents.errors import InvalidInput, NotFound
from incidents.flows import postmortems, summary
from incidents.reports.render import render_postmortem, render_summary
from incidents.web import budgets, listing, trends
from incidents.web.auth import Viewer, wants_html
from incidents.web.detail import incident_view
from incidents.web.security import document_policy
from incidents.web.templating import STATIC, render

DOCUMENTS = ("postmortem.html", "postmortem.md", "summary.html", "summary.md")
STATIC_FILES = {"style.css": "text/css; charset=utf-8"}

open_router = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[Viewer])


@open_router.get("/", response_model=None)
def home(request: Request) -> Response:
    """Send a browser on the bare host to the incident list (303).

    Only clients that accept HTML are redirected: for API clients ``/`` stays what it always
    was, an unknown route (404 JSON), so a path that normalises to ``/`` (``/runbooks/..``)
    never turns into a page behind a followed redirect.
    """
    if not wants_html(request):
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return RedirectResponse("/ui/incidents", status_code=303)


@open_router.get("/ui/static/{name}")
def static(name: str) -> Response:
    """Serve the pages' own assets (an allow-list: nothing else on disk is reachable)."""
    if name not in STATIC_FILES:
        return PlainTextResponse("not found", status_code=404)
    body = (STATIC / name).read_bytes()
    headers = {"Cache-Control": "public, max-age=3600"}
    return Response(body, media_type=STATIC_FILES[name], headers=headers)


def common(settings: Settings, page: str, **context: Any) -> dict[str, Any]:
    """Return what every page's layout needs: the current page, nav items, sign-out."""
    return {
        "page": page,
        "has_slos": budgets.slos_exist(settings),
        "signed_in": settings.api_token is not None,
        "refresh_url": None,
        **context,
    }


def error_page(settings: Settings, message: str, status_code: int) -> HTMLResponse:
    """Render a page that says what went wrong, with the layout's navigation."""
    title = "Not found" if status_code == 404 else "Cannot show this page"
    return render(
        "error.html.j2",
        status_code=status_code,
        **common(settings, "", title=title, message=message),
    )


@router.get("")
def ui_root() -> RedirectResponse:
    """Send /ui to the incident list."""
    return RedirectResponse("/ui/incidents", status_code=303)


@router.get("/incidents")
def incident_list(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> HTMLResponse:
    """The incident list with its filters and the 'new since' marks."""
    now = clock.now()
    try:
        params = listing.parse_params(request.query_params)
        page = listing.list_page(
            params, session=session, now=now, timezone=settings.default_timezone
        )
    except InvalidInput as exc:
        return error_page(settings, exc.message, 422)
    check = params.url(seen=page.newest_id, cursor="")
    return render(
        "incidents.html.j2",
        **common(
            settings,
            "incidents",
            title="Incidents",
            params=params,
            result=page,
            now=now,
            choices=listing.choices(session),
            statuses=listing.STATUSES,
            severities=listing.SEVERITIES,
            periods=listing.PERIODS,
            check_url=check,
            refresh_url=check if params.auto else None,
            refresh=listing.REFRESH_SECONDS,
        ),
    )


@router.get("/incidents/{ref}")
def incident_page(
    ref: str, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> HTMLResponse:
    """One incident: header, times, timeline chart and list, alerts, overrides, impact."""
    try:
        view = incident_view(ref, session=session, clock=clock, settings=settings)
    except NotFound as exc:
        return error_page(settings, exc.message, 404)
    return render(
        "incident.html.j2",
        **common(
            settings,
            "incidents",
            title=f"{view.key}: {view.incident.title}",
            view=view,
            now=clock.now(),
        ),
    )


@router.get("/incidents/{ref}/{document}")
def document(
    ref: str, document: str, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """An incident's postmortem or stakeholder summary, as HTML or Markdown."""
    if document not in DOCUMENTS:
        return error_page(settings, f"no document {document!r}", 404)
    name, fmt = document.split(".")
    try:
        if name == "postmortem":
            context = postmortems.document_context(
                ref, session=session, clock=clock, settings=settings
            )
            text = render_postmortem(context, templates_dir=settings.templates_dir, fmt=fmt)
        else:
            found = summary.summary(
                ref,
                session=session,
                clock=clock,
                cadence=settings.cadence,
                public_url=settings.public_url,
            )
            text = render_summary(found, templates_dir=settings.templates_dir, fmt=fmt)
    except NotFound as exc:
        return error_page(settings, exc.message, 404)
    if fmt == "md":
        return PlainTextResponse(text, media_type="text/plain; charset=utf-8")
    return HTMLResponse(text, headers={"Content-Security-Policy": document_policy(text)})


@router.get("/metrics")
def metrics_page(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> HTMLResponse:
    """MTTx trends per period and group, the time-to-mitigate histogram, the definitions."""
    try:
        params = trends.parse_params(request.query_params)
        view = trends.metrics_view(
            params, session=session, now=clock.now(), timezone=settings.default_timezone
        )
    except InvalidInput as exc:
        return error_page(settings, exc.message, 422)
    return render(
        "metrics.html.j2",
        **common(
            settings,
            "metrics",
            title="MTTx metrics",
            view=view,
            groups=trends.GROUPS,
            periods=trends.PERIODS,
            windows=trends.WINDOWS,
        ),
    )


@router.get("/slos")
def slos_page(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> HTMLResponse:
    """Error budgets and burn rates of every SLO (404 when none is defined)."""
    views = budgets.slo_views(settings=settings, session=session, now=clock.now())
    if not views:
        return error_page(settings, "no SLOs are defined (runbooks/slos.yaml)", 404)
    return render(
        "slos.html.j2", **common(settings, "slos", title="SLOs", slos=views, now=clock.now())
    )
