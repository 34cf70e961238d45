"""Incident routes: thin — parse, call one flow, map the result (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlmodel import Session

from incidents.api.deps import ApiAuth, ClockDep, NotifierDep, SessionDep, SettingsDep
from incidents.api.schemas import (
    ErrorOut,
    ImpactInput,
    IncidentCreate,
    IncidentListOut,
    IncidentOut,
    IncidentPatch,
    IncidentSummaryOut,
    NoteInput,
    TimelineEntryOut,
    TransitionInput,
)
from incidents.config import Settings
from incidents.domain.lifecycle import Event
from incidents.domain.refs import incident_key
from incidents.flows import edits, impact, queries, slos, summary
from incidents.flows import incidents as flows
from incidents.flows.filters import incident_filter
from incidents.flows.ports import Clock
from incidents.reports.render import render_summary
from incidents.reports.summary_context import Summary

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or wrong API token"},
    404: {"model": ErrorOut, "description": "no such incident"},
    409: {"model": ErrorOut, "description": "illegal transition (carries the current status)"},
    422: {"description": "invalid input or timestamps out of order (names the fields)"},
}
DEFAULT_ACTOR = "api"

router = APIRouter(prefix="/api/incidents", tags=["incidents"], dependencies=[ApiAuth])


@router.get("", responses=ERRORS)
def list_incidents(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    status: Annotated[str | None, Query(description="open, or comma-separated statuses")] = None,
    severity: Annotated[str | None, Query(description="comma-separated, e.g. SEV1,SEV2")] = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    slice: Annotated[str | None, Query(max_length=500, description="e.g. language=de")] = None,  # noqa: A002
    since: Annotated[str | None, Query(description="detected at or after (ISO or '7d')")] = None,
    until: Annotated[str | None, Query(description="detected before (ISO or '1d')")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> IncidentListOut:
    """List incidents newest first, filtered, one page at a time."""
    where = incident_filter(
        status=status,
        severity=severity,
        service=service,
        model=model,
        since=since,
        until=until,
        timezone=settings.default_timezone,
        now=clock.now(),
        slice_=slice,
    )
    page = queries.list_incidents(where=where, limit=limit, cursor=cursor, session=session)
    return IncidentListOut(
        items=[IncidentSummaryOut.of(item) for item in page.items], next_cursor=page.next_cursor
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def create_incident(
    body: IncidentCreate,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    notifier: NotifierDep,
) -> IncidentOut:
    """Declare an incident."""
    declaration = flows.Declaration(
        **body.model_dump(exclude={"actor"}), actor=body.actor or DEFAULT_ACTOR
    )
    incident = flows.declare(declaration, session=session, clock=clock, notifier=notifier)
    assert incident.id is not None
    response.headers["Location"] = f"/api/incidents/{incident_key(incident.id)}"
    return IncidentOut.of_detail(queries.show_incident(incident.id, session=session))


@router.get("/{ref}", responses=ERRORS)
def get_incident(
    ref: str, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> IncidentOut:
    """Return one incident (by id or key such as INC-42) with durations, alerts, impact and
    the error budget it cost each SLO of its service or model."""
    detail = queries.show_incident(ref, session=session)
    now = clock.now()
    spent = slos.spent_by(detail.incident, settings=settings, session=session, now=now)
    return IncidentOut.of_detail(detail, now=now, error_budget=[asdict(s) for s in spent])


@router.get("/{ref}/summary.json", responses=ERRORS)
def get_summary(
    ref: str, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    """The stakeholder summary as data: business impact first, "unknown" rather than a fake ETA."""
    return summary.as_json(_summary(ref, session, clock, settings))


@router.get("/{ref}/summary.md", response_class=PlainTextResponse, responses=ERRORS)
def get_summary_markdown(
    ref: str, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> str:
    """The stakeholder summary in Markdown, rendered from the database now."""
    found = _summary(ref, session, clock, settings)
    return render_summary(found, templates_dir=settings.templates_dir, fmt="md")


@router.get("/{ref}/summary.html", response_class=HTMLResponse, responses=ERRORS)
def get_summary_html(ref: str, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> str:
    """The stakeholder summary as a standalone, printable HTML page."""
    found = _summary(ref, session, clock, settings)
    return render_summary(found, templates_dir=settings.templates_dir, fmt="html")


def _summary(ref: str, session: Session, clock: Clock, settings: Settings) -> Summary:
    """Build the summary with the configured update cadence and public URL."""
    return summary.summary(ref, session=session, clock=clock, cadence=settings.cadence,
                           public_url=settings.public_url)  # fmt: skip


@router.put("/{ref}/impact", responses=ERRORS)
def put_impact(
    ref: str, body: ImpactInput, session: SessionDep, clock: ClockDep, notifier: NotifierDep
) -> IncidentOut:
    """Set the business-impact inputs; the figure is recomputed whenever it is read."""
    impact.set_impact(
        ref,
        model=body.model,
        currency=body.currency,
        inputs=body.inputs,
        actor=body.actor or DEFAULT_ACTOR,
        session=session,
        clock=clock,
        notifier=notifier,
    )
    return IncidentOut.of_detail(queries.show_incident(ref, session=session), now=clock.now())


@router.patch("/{ref}", responses=ERRORS)
def patch_incident(
    ref: str, body: IncidentPatch, session: SessionDep, clock: ClockDep, notifier: NotifierDep
) -> IncidentOut:
    """Edit fields and correct timestamps; every change is recorded on the timeline."""
    values = body.model_dump(exclude_unset=True, exclude={"actor"})
    edits.edit_incident(
        ref,
        values=values,
        actor=body.actor or DEFAULT_ACTOR,
        session=session,
        clock=clock,
        notifier=notifier,
    )
    return IncidentOut.of_detail(queries.show_incident(ref, session=session))


TransitionBody = Annotated[TransitionInput | None, Body()]
# path → (lifecycle event, what the route does); one route per event, built below.
TRANSITIONS: dict[str, tuple[Event, str]] = {
    "acknowledge": (Event.ACKNOWLEDGE, "Acknowledge (optionally back-dated with `at`)."),
    "mitigate": (Event.MITIGATE, "Mark user impact as stopped (optionally back-dated with `at`)."),
    "resolve": (
        Event.RESOLVE,
        "Resolve (optionally back-dated with `at`); stamps mitigation too if it was unset.",
    ),
    "reopen": (
        Event.REOPEN,
        "Reopen a resolved incident; mitigation and resolution are cleared (kept on the timeline).",
    ),
}


def _transition_route(name: str, event: Event, doc: str) -> Callable[..., IncidentOut]:
    """Build the route that applies one lifecycle event and returns the incident."""

    def endpoint(
        ref: str,
        session: SessionDep,
        clock: ClockDep,
        notifier: NotifierDep,
        body: TransitionBody = None,
    ) -> IncidentOut:
        given = body or TransitionInput()
        flows.change_status(
            ref,
            event,
            actor=given.actor or DEFAULT_ACTOR,
            at=given.at,
            note=given.note,
            session=session,
            clock=clock,
            notifier=notifier,
        )
        return IncidentOut.of_detail(queries.show_incident(ref, session=session))

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    return endpoint


for _path, (_event, _doc) in TRANSITIONS.items():
    router.post(f"/{{ref}}/{_path}", responses=ERRORS)(_transition_route(_path, _event, _doc))


@router.post("/{ref}/notes", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def add_note(ref: str, body: NoteInput, session: SessionDep, clock: ClockDep) -> TimelineEntryOut:
    """Add a note to the timeline."""
    entry = flows.add_note(
        ref,
        text=body.text,
        actor=body.actor or DEFAULT_ACTOR,
        at=body.at,
        session=session,
        clock=clock,
    )
    return TimelineEntryOut.of(entry)


@router.get("/{ref}/timeline", responses=ERRORS)
def get_timeline(ref: str, session: SessionDep) -> list[TimelineEntryOut]:
    """Return the timeline in the order things happened."""
    return [TimelineEntryOut.of(entry) for entry in queries.timeline(ref, session=session)]
