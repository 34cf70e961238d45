"""The postmortem REST mirror (DESIGN §6): problem, whys, root cause, actions, documents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from incidents.api.deps import ApiAuth, ClockDep, SessionDep, SettingsDep
from incidents.api.routers.incidents import DEFAULT_ACTOR, ERRORS
from incidents.domain.refs import MAX_ID
from incidents.flows import postmortems as flows
from incidents.flows.postmortems import PostmortemView
from incidents.reports.render import render_postmortem

router = APIRouter(prefix="/api/incidents/{ref}", tags=["postmortems"], dependencies=[ApiAuth])
Actor = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=4000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


Items = Annotated[list[Annotated[str, StringConstraints(max_length=1000)]], Field(max_length=50)]


class PostmortemInput(_Input):
    """Body of PUT …/postmortem."""

    problem_statement: LongText | None = None
    contributing_factors: Items | None = None
    went_well: Items | None = None
    went_wrong: Items | None = None
    got_lucky: Items | None = None
    status: str | None = Field(default=None, description="draft or done")
    actor: Actor | None = None


class WhyInput(_Input):
    """Body of POST …/postmortem/whys and PATCH …/whys/{position}."""

    answer: LongText
    actor: Actor | None = None


class RootCauseInput(_Input):
    """Body of POST …/postmortem/root-cause."""

    position: int = Field(ge=1, le=7)
    actor: Actor | None = None


class ActionInput(_Input):
    """Body of POST …/postmortem/actions."""

    text: LongText
    owner: Actor | None = None
    due: date | None = None
    why: int | None = Field(default=None, ge=1, le=7)
    actor: Actor | None = None


class ActionPatch(_Input):
    """Body of PATCH …/postmortem/actions/{id}: only the fields given change."""

    text: LongText | None = None
    owner: Actor | None = None
    due: date | None = None
    why_position: int | None = Field(default=None, ge=1, le=7)
    status: str | None = Field(default=None, description="open, done or dropped")


class WhyOut(BaseModel):
    """One why: the question, the answer, who wrote it, and a nudge if it blames someone."""

    position: int
    question: str
    answer: str
    author: str | None
    created_at: datetime
    edited_by: str | None
    edited_at: datetime | None
    nudge: str | None


class ActionOut(BaseModel):
    """A follow-up action."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    owner: str | None
    due: date | None
    why_position: int | None
    status: str
    author: str | None


class PostmortemOut(BaseModel):
    """The postmortem and what to ask next."""

    incident: str
    started: bool
    problem_statement: str | None
    status: str
    whys: list[WhyOut]
    next_question: str | None
    root_cause_position: int | None
    can_mark_root_cause: bool
    actions: list[ActionOut]
    contributing_factors: list[str] = Field(default_factory=list)
    went_well: list[str] = Field(default_factory=list)
    went_wrong: list[str] = Field(default_factory=list)
    got_lucky: list[str] = Field(default_factory=list)
    nudge: str | None = None

    @classmethod
    def of(cls, view: PostmortemView, nudge: str | None = None) -> PostmortemOut:
        """Convert a view."""
        postmortem = view.postmortem
        return cls(
            incident=f"INC-{view.incident.id}",
            started=postmortem is not None,
            problem_statement=postmortem.problem_statement if postmortem else None,
            status=postmortem.status if postmortem else "not started",
            whys=[WhyOut.model_validate(why, from_attributes=True) for why in view.whys],
            next_question=view.next_question,
            root_cause_position=postmortem.root_cause_position if postmortem else None,
            can_mark_root_cause=view.can_mark_root_cause,
            actions=[ActionOut.model_validate(action) for action in view.actions],
            contributing_factors=postmortem.contributing_factors if postmortem else [],
            went_well=postmortem.went_well if postmortem else [],
            went_wrong=postmortem.went_wrong if postmortem else [],
            got_lucky=postmortem.got_lucky if postmortem else [],
            nudge=nudge,
        )


@router.get("/postmortem", responses=ERRORS)
def get_postmortem(ref: str, session: SessionDep) -> PostmortemOut:
    """Return the postmortem (``started: false`` before the problem statement is set)."""
    return PostmortemOut.of(flows.show(ref, session=session))


@router.put("/postmortem", responses=ERRORS)
def put_postmortem(
    ref: str, body: PostmortemInput, session: SessionDep, clock: ClockDep
) -> PostmortemOut:
    """Set the problem statement (starting the postmortem) and/or its status."""
    actor = body.actor or DEFAULT_ACTOR
    view = flows.show(ref, session=session)
    flows.check_status_change(view, body.status)  # refuse before writing anything
    if body.problem_statement is not None:
        view = flows.set_problem(
            ref, statement=body.problem_statement, actor=actor, session=session, clock=clock
        )
    lists = body.model_dump(exclude_unset=True, include=set(flows.RETROSPECTIVE))
    if lists:
        view = flows.set_retrospective(ref, values=lists, session=session, clock=clock)
    if body.status is not None:
        view = flows.set_status(ref, body.status, actor=actor, session=session, clock=clock)
    return PostmortemOut.of(view)


@router.post("/postmortem/whys", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def add_why(ref: str, body: WhyInput, session: SessionDep, clock: ClockDep) -> PostmortemOut:
    """Answer the current question; the response carries the next one and any nudge."""
    view, nudge = flows.add_why(
        ref, answer=body.answer, actor=body.actor or DEFAULT_ACTOR, session=session, clock=clock
    )
    return PostmortemOut.of(view, nudge)


@router.patch("/postmortem/whys/{position}", responses=ERRORS)
def edit_why(
    ref: str,
    position: Annotated[int, Path(ge=1, le=7)],
    body: WhyInput,
    session: SessionDep,
    clock: ClockDep,
) -> PostmortemOut:
    """Reword an answer; later questions follow it."""
    view, nudge = flows.edit_why(
        ref,
        position,
        answer=body.answer,
        actor=body.actor or DEFAULT_ACTOR,
        session=session,
        clock=clock,
    )
    return PostmortemOut.of(view, nudge)


@router.post("/postmortem/root-cause", responses=ERRORS)
def root_cause(
    ref: str, body: RootCauseInput, session: SessionDep, clock: ClockDep
) -> PostmortemOut:
    """Mark a why as the root cause (after at least three)."""
    return PostmortemOut.of(
        flows.mark_root_cause(
            ref, body.position, actor=body.actor or DEFAULT_ACTOR, session=session, clock=clock
        )
    )


@router.post("/postmortem/actions", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def add_action(ref: str, body: ActionInput, session: SessionDep, clock: ClockDep) -> ActionOut:
    """Add a follow-up action."""
    action = flows.add_action(
        ref,
        text=body.text,
        owner=body.owner,
        due=body.due,
        why=body.why,
        actor=body.actor or DEFAULT_ACTOR,
        session=session,
        clock=clock,
    )
    return ActionOut.model_validate(action)


@router.patch("/postmortem/actions/{action_id}", responses=ERRORS)
def patch_action(
    ref: str,
    action_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ActionPatch,
    session: SessionDep,
    clock: ClockDep,
) -> ActionOut:
    """Change an action's text, owner, due date, why or status."""
    values = body.model_dump(exclude_unset=True)
    action = flows.update_action(ref, action_id, values=values, session=session, clock=clock)
    return ActionOut.model_validate(action)


@router.get("/postmortem.md", response_class=PlainTextResponse, responses=ERRORS)
def postmortem_markdown(
    ref: str, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> str:
    """The postmortem document in Markdown, rendered from the database now."""
    context = flows.document_context(ref, session=session, clock=clock, settings=settings)
    return render_postmortem(context, templates_dir=settings.templates_dir, fmt="md")


@router.get("/postmortem.html", response_class=HTMLResponse, responses=ERRORS)
def postmortem_html(ref: str, session: SessionDep, settings: SettingsDep, clock: ClockDep) -> str:
    """The postmortem document as a standalone, printable HTML page."""
    context = flows.document_context(ref, session=session, clock=clock, settings=settings)
    return render_postmortem(context, templates_dir=settings.templates_dir, fmt="html")
