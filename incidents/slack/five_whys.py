"""The guided 5 Whys in Slack: the command or the card's button opens the step the
postmortem has reached (so it resumes after any restart), and each submission moves it on.

A blaming answer is not refused: the view comes back with the nudge and the answer kept, and
submitting it unchanged accepts it. Rules broken (a blank answer, a root cause before three
whys) come back as inline errors on the field.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlmodel import Session

from incidents.domain import five_whys
from incidents.domain.refs import incident_key
from incidents.errors import IncidentsError
from incidents.flows import postmortems
from incidents.slack.context import Context
from incidents.slack.five_whys_views import (
    FlowState,
    actions_view,
    fingerprint,
    problem_view,
    submitted,
    why_view,
)
from incidents.slack.ids import BlockId, CallbackId


def current_view(ref: str | int, ctx: Context, state: FlowState | None = None) -> dict[str, Any]:
    """Return the view for the step the incident's postmortem has reached."""
    with Session(ctx.engine) as session:
        view = postmortems.show(ref, session=session)
    incident_id = view.incident.id
    assert incident_id is not None
    state = state or FlowState(incident=incident_id)
    key = incident_key(incident_id)
    postmortem = view.postmortem
    if postmortem is None or not postmortem.problem_statement:
        return problem_view(state, key=key)
    answers = [why.answer for why in view.whys]
    if postmortem.root_cause_position is None:
        return why_view(state, key=key, problem=postmortem.problem_statement, answers=answers)
    root = answers[postmortem.root_cause_position - 1]
    return actions_view(state, key=key, root_cause=root, whys=len(answers), added=len(view.actions))


def open_postmortem(client: WebClient, trigger_id: str, ref: str | int, ctx: Context) -> None:
    """Open the postmortem where it stands."""
    client.views_open(trigger_id=trigger_id, view=current_view(ref, ctx))


def register(app: App, context: Any) -> None:
    """Add the 5 Whys view handlers to the Bolt app (`context(user_id)` builds a Context)."""

    @app.view(CallbackId.FIVE_WHYS_PROBLEM.value)
    def problem(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ctx, state = context(body["user"]["id"]), FlowState.load(view["private_metadata"])
        text = str(submitted(view).get(BlockId.PROBLEM.value, "")).strip()
        if not text:
            ack(response_action="errors", errors={BlockId.PROBLEM.value: "Describe the problem."})
            return
        with _session(ctx) as session:
            postmortems.set_problem(
                state.incident, statement=text, actor=ctx.user_id, session=session, clock=ctx.clock
            )
        ack(response_action="update", view=current_view(state.incident, ctx))

    @app.view(CallbackId.FIVE_WHYS_WHY.value)
    def why(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ctx, state = context(body["user"]["id"]), FlowState.load(view["private_metadata"])
        values = submitted(view)
        answer = str(values.get(BlockId.ANSWER.value, "")).strip()
        root = bool(values.get(BlockId.ROOT_CAUSE.value))
        refused = _check_why(answer, root, state, ctx)
        if refused is not None:
            ack(response_action="errors", errors=refused)
            return
        nudge = five_whys.blame_nudge(answer)
        if nudge and state.nudged != fingerprint(answer):
            ack(response_action="update", view=_nudged(state, ctx, answer, nudge))
            return
        try:
            _save_why(state.incident, answer, root=root, ctx=ctx)
        except IncidentsError as exc:  # e.g. someone else just marked the root cause
            ack(response_action="errors", errors={BlockId.ANSWER.value: exc.message})
            return
        ack(
            response_action="update",
            view=current_view(state.incident, ctx, FlowState(incident=state.incident)),
        )

    @app.view(CallbackId.FIVE_WHYS_ACTIONS.value)
    def actions(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ctx, state = context(body["user"]["id"]), FlowState.load(view["private_metadata"])
        values = submitted(view)
        try:
            _save_action(state.incident, values, ctx)
            if values.get(BlockId.FINISH.value):
                _finish(state.incident, ctx)
                ack(response_action="clear")
                return
        except IncidentsError as exc:
            ack(response_action="errors", errors={BlockId.ACTION_TEXT.value: exc.message})
            return
        ack(response_action="update", view=current_view(state.incident, ctx))


def _check_why(answer: str, root: bool, state: FlowState, ctx: Context) -> dict[str, str] | None:
    """Return inline errors for a why that cannot be accepted."""
    try:
        five_whys.clean_answer(answer)
    except IncidentsError as exc:
        return {BlockId.ANSWER.value: exc.message}
    if root:
        with Session(ctx.engine) as session:
            count = len(postmortems.show(state.incident, session=session).whys) + 1
        if count < five_whys.MIN_WHYS:
            return {
                BlockId.ROOT_CAUSE.value: f"Keep asking: a root cause needs "
                f"{five_whys.MIN_WHYS} whys (this is why {count})."
            }
    return None


def _nudged(state: FlowState, ctx: Context, answer: str, nudge: str) -> dict[str, Any]:
    """Show the same question again with the nudge and the answer kept."""
    with Session(ctx.engine) as session:
        view = postmortems.show(state.incident, session=session)
    assert view.postmortem is not None and view.postmortem.problem_statement
    marked = FlowState(incident=state.incident, nudged=fingerprint(answer))
    return why_view(
        marked,
        key=incident_key(state.incident),
        problem=view.postmortem.problem_statement,
        answers=[w.answer for w in view.whys],
        nudge=nudge,
        draft=answer,
    )


def _save_why(incident: int, answer: str, *, root: bool, ctx: Context) -> None:
    """Append the answer, as the root cause when ticked (one commit)."""
    with _session(ctx) as session:
        postmortems.add_why(
            incident,
            answer=answer,
            actor=ctx.user_id,
            session=session,
            clock=ctx.clock,
            root_cause=root,
        )


def _save_action(incident: int, values: dict[str, Any], ctx: Context) -> None:
    """Add the action item the form describes (if any text was given)."""
    text = str(values.get(BlockId.ACTION_TEXT.value, "")).strip()
    if not text:
        return
    due = values.get(BlockId.ACTION_DUE.value) or None
    why = values.get(BlockId.ACTION_WHY.value) or None
    with _session(ctx) as session:
        postmortems.add_action(
            incident,
            text=text,
            owner=values.get(BlockId.ACTION_OWNER.value) or None,
            due=date.fromisoformat(due) if due else None,
            why=int(why) if why else None,
            actor=ctx.user_id,
            session=session,
            clock=ctx.clock,
        )


def _finish(incident: int, ctx: Context) -> None:
    """Mark the postmortem done; its digest and link go to the incident channel."""
    key = incident_key(incident)
    url = f"{ctx.settings.public_url.rstrip('/')}/api/incidents/{key}/postmortem.html"
    with _session(ctx) as session:
        postmortems.set_status(
            incident,
            "done",
            actor=ctx.user_id,
            session=session,
            clock=ctx.clock,
            notifier=ctx.notifier,
            document_url=url,
        )


def _session(ctx: Context) -> Session:
    """Open a session for one step."""
    return Session(ctx.engine, expire_on_commit=False)
