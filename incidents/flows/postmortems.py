"""Run an incident's postmortem: the problem, the 5 Whys chain, the root cause, the actions.

State lives in the database, so the analysis survives restarts and several people can add
to it; every answer keeps its author, and edits keep who changed it and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from incidents.config import Settings
from incidents.domain import five_whys
from incidents.domain.refs import incident_key, slice_key
from incidents.domain.timeline import TimelineKind
from incidents.errors import Conflict, InvalidInput, NotFound
from incidents.flows.incidents import record_entry
from incidents.flows.ports import NULL_NOTIFIER, Clock, Notifier
from incidents.flows.queries import durations_of
from incidents.flows.releases import checks_around
from incidents.flows.slos import spent_by
from incidents.reports.context import (
    ActionItem,
    AlertItem,
    BudgetItem,
    GateItem,
    PostmortemContext,
    TimelineItem,
    WhyItem,
)
from incidents.store import incidents as incident_store
from incidents.store.models import Incident, Postmortem, PostmortemAction, PostmortemWhy

ACTION_STATUSES = ("open", "done", "dropped")
POSTMORTEM_STATUSES = ("draft", "done")


@dataclass(frozen=True, slots=True)
class WhyView:
    """One why with its derived question."""

    position: int
    question: str
    answer: str
    author: str | None
    created_at: datetime
    edited_by: str | None
    edited_at: datetime | None
    nudge: str | None


@dataclass(frozen=True, slots=True)
class PostmortemView:
    """The postmortem as people see it, with what to ask next."""

    incident: Incident
    postmortem: Postmortem | None
    whys: list[WhyView]
    actions: list[PostmortemAction]
    next_question: str | None
    can_mark_root_cause: bool


def show(ref: str | int, *, session: Session) -> PostmortemView:
    """Return an incident's postmortem (empty when not started)."""
    incident = incident_store.get_incident(session, ref)
    postmortem = _find(session, incident)
    whys = _whys(session, postmortem)
    actions = _actions(session, postmortem)
    problem = postmortem.problem_statement if postmortem else None
    answers = [why.answer for why in whys]
    next_question = None
    if problem and len(whys) < five_whys.MAX_WHYS and not _has_root_cause(postmortem):
        next_question = five_whys.question_for(answers[-1] if answers else problem)
    questions = five_whys.questions(problem or "", answers)
    views = [_why_view(why, questions[index]) for index, why in enumerate(whys)]
    return PostmortemView(
        incident, postmortem, views, actions, next_question, len(whys) >= five_whys.MIN_WHYS
    )


def set_problem(
    ref: str | int, *, statement: str, actor: str | None, session: Session, clock: Clock
) -> PostmortemView:
    """Start the postmortem with its problem statement, or reword it."""
    cleaned = statement.strip()
    if not cleaned:
        raise InvalidInput("the problem statement is empty", fields=["problem_statement"])
    now = clock.now()
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _find(session, incident)
    if postmortem is None:
        postmortem = Postmortem(
            incident_id=_id(incident),
            status="draft",
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        session.add(postmortem)
        _note(session, incident, now, actor, "postmortem started")
    postmortem.problem_statement = cleaned[: five_whys.MAX_ANSWER]
    postmortem.updated_at = now
    session.commit()
    return show(_id(incident), session=session)


def add_why(
    ref: str | int,
    *,
    answer: str,
    actor: str | None,
    session: Session,
    clock: Clock,
    root_cause: bool = False,
) -> tuple[PostmortemView, str | None]:
    """Append the answer to the current question (as the root cause when asked, in the
    same commit); return the view and any blame nudge."""
    cleaned = five_whys.clean_answer(answer)
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _started(session, incident)
    if _has_root_cause(postmortem):
        raise Conflict("the root cause is marked: edit an answer or add action items")
    count = len(_whys(session, postmortem))
    five_whys.check_can_add(count)
    if root_cause:
        five_whys.check_root_cause(count + 1, count + 1)
    now = clock.now()
    position = count + 1
    session.add(
        PostmortemWhy(
            postmortem_id=_id(postmortem),
            position=position,
            answer=cleaned,
            author=actor,
            created_at=now,
        )
    )
    postmortem.updated_at = now
    if root_cause:
        postmortem.root_cause_position = position
        _note(session, incident, now, actor, f"root cause found (why {position}): {cleaned}")
    session.commit()
    return show(_id(incident), session=session), five_whys.blame_nudge(cleaned)


def edit_why(
    ref: str | int,
    position: int,
    *,
    answer: str,
    actor: str | None,
    session: Session,
    clock: Clock,
) -> tuple[PostmortemView, str | None]:
    """Reword an answer; the questions after it follow the new wording."""
    cleaned = five_whys.clean_answer(answer)
    incident = incident_store.get_incident(session, ref, for_update=True)
    why = _why_at(session, _started(session, incident), position)
    why.answer, why.edited_by, why.edited_at = cleaned, actor, clock.now()
    session.commit()
    return show(_id(incident), session=session), five_whys.blame_nudge(cleaned)


def mark_root_cause(
    ref: str | int, position: int, *, actor: str | None, session: Session, clock: Clock
) -> PostmortemView:
    """Accept why `position` as the root cause (after at least three whys)."""
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _started(session, incident)
    five_whys.check_root_cause(len(_whys(session, postmortem)), position)
    now = clock.now()
    postmortem.root_cause_position = position
    postmortem.updated_at = now
    why = _why_at(session, postmortem, position)
    _note(session, incident, now, actor, f"root cause found (why {position}): {why.answer}")
    session.commit()
    return show(_id(incident), session=session)


RETROSPECTIVE = ("contributing_factors", "went_well", "went_wrong", "got_lucky")


def set_retrospective(
    ref: str | int, *, values: dict[str, list[str]], session: Session, clock: Clock
) -> PostmortemView:
    """Record contributing factors, what went well and wrong, and where we got lucky."""
    unknown = sorted(set(values) - set(RETROSPECTIVE))
    if unknown:
        raise InvalidInput(f"cannot set {', '.join(unknown)}", fields=unknown)
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _started(session, incident)
    for name, items in values.items():
        setattr(postmortem, name, [item.strip() for item in items if item.strip()])
    postmortem.updated_at = clock.now()
    session.commit()
    return show(_id(incident), session=session)


def check_status_change(view: PostmortemView, status: str | None) -> None:
    """Refuse a status the postmortem cannot take, before any other change is written."""
    if status is None:
        return
    if status not in POSTMORTEM_STATUSES:
        allowed = ", ".join(POSTMORTEM_STATUSES)
        raise InvalidInput(f"status must be one of {allowed}", fields=["status"])
    if status == "done" and (
        view.postmortem is None or view.postmortem.root_cause_position is None
    ):
        raise Conflict("mark the root cause before finishing the postmortem")


def set_status(
    ref: str | int,
    status: str,
    *,
    actor: str | None,
    session: Session,
    clock: Clock,
    notifier: Notifier = NULL_NOTIFIER,
    document_url: str | None = None,
) -> PostmortemView:
    """Mark the postmortem done (or back to draft)."""
    if status not in POSTMORTEM_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(POSTMORTEM_STATUSES)}", fields=["status"]
        )
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _started(session, incident)
    now = clock.now()
    if status == "done" and postmortem.root_cause_position is None:
        raise Conflict("mark the root cause before finishing the postmortem")
    postmortem.status, postmortem.updated_at = status, now
    postmortem.finished_at = now if status == "done" else None
    _note(
        session,
        incident,
        now,
        actor,
        f"postmortem {'finished' if status == 'done' else 'reopened'}",
    )
    if status == "done":
        digest = _digest(session, incident, postmortem, document_url)
        notifier.postmortem_finished(session, incident, now=now, digest=digest)
    session.commit()
    return show(_id(incident), session=session)


def _digest(session: Session, incident: Incident, postmortem: Postmortem, url: str | None) -> str:
    """Summarise a finished postmortem in two lines for the incident channel."""
    root = _why_at(session, postmortem, postmortem.root_cause_position or 1).answer
    actions = len(_actions(session, postmortem))
    link = f" <{url}|Read the postmortem>" if url else ""
    return (f"*Postmortem for {incident_key(_id(incident))} is done.* Root cause: {root}\n"
            f"{actions} action item(s).{link}")  # fmt: skip


def add_action(
    ref: str | int,
    *,
    text: str,
    owner: str | None,
    due: date | None,
    why: int | None,
    actor: str | None,
    session: Session,
    clock: Clock,
) -> PostmortemAction:
    """Commit to a follow-up action, optionally tied to the why it addresses."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("the action is empty", fields=["text"])
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _started(session, incident)
    if why is not None:
        _why_at(session, postmortem, why)
    now = clock.now()
    action = PostmortemAction(
        postmortem_id=_id(postmortem),
        text=cleaned,
        owner=owner,
        due=due,
        why_position=why,
        status="open",
        author=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    session.commit()
    return action


def update_action(
    ref: str | int, action_id: int, *, values: dict[str, Any], session: Session, clock: Clock
) -> PostmortemAction:
    """Change an action's text, owner, due date, why or status."""
    if "status" in values and values["status"] not in ACTION_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(ACTION_STATUSES)}", fields=["status"])
    incident = incident_store.get_incident(session, ref, for_update=True)
    postmortem = _started(session, incident)
    action = session.get(PostmortemAction, action_id)
    if action is None or action.postmortem_id != postmortem.id:
        raise NotFound(f"no action {action_id} in this postmortem")
    for name, value in values.items():
        setattr(action, name, value)
    action.updated_at = clock.now()
    session.commit()
    return action


def _find(session: Session, incident: Incident) -> Postmortem | None:
    """Return the incident's postmortem, if started."""
    return session.exec(select(Postmortem).where(Postmortem.incident_id == incident.id)).first()


def _started(session: Session, incident: Incident) -> Postmortem:
    """Return the postmortem, or say to start it with a problem statement."""
    postmortem = _find(session, incident)
    if postmortem is None or not postmortem.problem_statement:
        raise Conflict("start the postmortem with a problem statement first")
    return postmortem


def _whys(session: Session, postmortem: Postmortem | None) -> list[PostmortemWhy]:
    """Return the chain in order."""
    if postmortem is None:
        return []
    statement = select(PostmortemWhy).where(PostmortemWhy.postmortem_id == postmortem.id)
    return list(session.exec(statement.order_by(col(PostmortemWhy.position))).all())


def _actions(session: Session, postmortem: Postmortem | None) -> list[PostmortemAction]:
    """Return the action items in the order they were added."""
    if postmortem is None:
        return []
    statement = select(PostmortemAction).where(PostmortemAction.postmortem_id == postmortem.id)
    return list(session.exec(statement.order_by(col(PostmortemAction.id))).all())


def _why_at(session: Session, postmortem: Postmortem, position: int) -> PostmortemWhy:
    """Return why number `position`, or raise NotFound."""
    for why in _whys(session, postmortem):
        if why.position == position:
            return why
    raise NotFound(f"there is no why {position}")


def _has_root_cause(postmortem: Postmortem | None) -> bool:
    """Tell whether the chain has ended in a root cause."""
    return postmortem is not None and postmortem.root_cause_position is not None


def _why_view(why: PostmortemWhy, question: str) -> WhyView:
    """Describe one why."""
    return WhyView(
        why.position,
        question,
        why.answer,
        why.author,
        why.created_at,
        why.edited_by,
        why.edited_at,
        five_whys.blame_nudge(why.answer),
    )


def _note(
    session: Session, incident: Incident, now: datetime, actor: str | None, text: str
) -> None:
    """Put a postmortem milestone on the incident's timeline."""
    record_entry(
        session, incident, kind=TimelineKind.POSTMORTEM, at=now, now=now, actor=actor, text=text
    )


def _id(row: Incident | Postmortem) -> int:
    """Return the id of a flushed row."""
    if row.id is None:
        raise RuntimeError("row has no id before flush")
    return row.id


def document_context(
    ref: str | int, *, session: Session, clock: Clock, settings: Settings | None = None
) -> PostmortemContext:
    """Gather everything the postmortem document shows, fresh from the database.

    With `settings`, it also shows the error budget each SLO lost to the incident and the
    release gate's verdicts around it (DESIGN §11).
    """
    view = show(ref, session=session)
    incident = view.incident
    durations = durations_of(incident)
    postmortem = view.postmortem
    root = postmortem.root_cause_position if postmortem else None
    return PostmortemContext(
        key=incident_key(_id(incident)),
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        summary=incident.summary,
        service=incident.service,
        model=incident.model,
        slice=slice_key(incident.slice),
        commander=incident.commander,
        impact_started_at=incident.impact_started_at,
        impact_started_source=incident.impact_started_source,
        detected_at=incident.detected_at,
        reported_at=incident.reported_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        time_to_detect=_seconds(durations.time_to_detect),
        time_to_acknowledge=_seconds(durations.time_to_acknowledge),
        time_to_mitigate=_seconds(durations.time_to_mitigate),
        time_to_resolve=_seconds(durations.time_to_resolve),
        detection_source=_detection(incident),
        problem_statement=postmortem.problem_statement if postmortem else None,
        postmortem_status=postmortem.status if postmortem else "not started",
        whys=[
            WhyItem(w.position, w.question, w.answer, w.author, w.position == root)
            for w in view.whys
        ],
        actions=[
            ActionItem(a.text, a.owner, a.due, a.why_position, a.status) for a in view.actions
        ],
        timeline=[
            TimelineItem(e.at, e.kind, e.actor, e.text)
            for e in incident_store.list_timeline(session, _id(incident))
        ],
        alerts=[
            AlertItem(a.source, a.title, a.severity, a.status, a.starts_at, a.ends_at, a.seen_count)
            for a in incident_store.list_alerts(session, _id(incident))
        ],
        runbook=incident.runbook,
        went_well=list(postmortem.went_well) if postmortem else [],
        went_wrong=list(postmortem.went_wrong) if postmortem else [],
        got_lucky=list(postmortem.got_lucky) if postmortem else [],
        contributing_factors=list(postmortem.contributing_factors) if postmortem else [],
        error_budget=_budget_items(incident, settings, session, clock) if settings else [],
        release_checks=[
            GateItem(c.checked_at, c.decision, list(c.verdict.get("reasons", [])))
            for c in checks_around(incident, session=session, now=clock.now())
        ],
        generated_at=clock.now(),
    )


def _budget_items(
    incident: Incident, settings: Settings, session: Session, clock: Clock
) -> list[BudgetItem]:
    """Return what the incident cost each SLO of its service or model."""
    spent = spent_by(incident, settings=settings, session=session, now=clock.now())
    return [BudgetItem(s.slo, s.bad_events, s.consumed, s.postmortem_required) for s in spent]


def _detection(incident: Incident) -> str:
    """Say how the incident was detected."""
    if incident.source == "manual":
        return f"declared by a person ({incident.reporter or 'unknown'})"
    return f"alert from {incident.source}"


def _seconds(value: timedelta | None) -> float | None:
    """Return a duration in seconds."""
    return None if value is None else value.total_seconds()
