"""Carry out one ``/incident`` command or card button: each calls one flow and answers.

Every command is a few database statements and queues its Slack side effects in the
outbox, so it finishes well inside Slack's 3-second window and answers in the
acknowledgement itself (an ephemeral message to the person who typed it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session, col, select

from incidents.catalog import load_catalog
from incidents.domain.humanize import format_duration
from incidents.domain.lifecycle import Event
from incidents.domain.metrics import METRICS
from incidents.domain.refs import incident_key, subject
from incidents.domain.severity import parse_severity
from incidents.domain.timeinput import parse_duration, parse_human_time
from incidents.errors import InvalidInput, NotFound
from incidents.flows import edits, metrics, overrides, queries
from incidents.flows import incidents as flows
from incidents.flows.filters import incident_filter, metrics_query
from incidents.slack import grammar, impact_summary, oncall, release_check
from incidents.slack.blocks import slack_date
from incidents.slack.context import Context
from incidents.store.models import Incident

STATUS_EVENTS = {"ack": Event.ACKNOWLEDGE, "mitigate": Event.MITIGATE, "resolve": Event.RESOLVE}
LIST_LIMIT = 15
FORMS = frozenset({"postmortem", "impact"})


def run(command: grammar.Command, ctx: Context) -> str:
    """Carry out a parsed command and return the answer text."""
    if command.verb == "help":
        return grammar.HELP
    if command.verb in FORMS:  # opened as a form by the app; never answered as text
        return f"Run `/incident {command.verb}` to open its form."
    with Session(ctx.engine, expire_on_commit=False) as session:
        if command.verb == "declare":
            return _declare(command, ctx, session)
        if command.verb == "list":
            return _list(ctx, session)
        if command.verb == "metrics":
            return _metrics(command, ctx, session)
        if command.verb == "oncall":
            return _oncall(command, ctx, session)
        if command.verb == "release-check":
            return release_check.answer(command.argument, ctx=ctx, session=session)
        ref = _incident_ref(command, ctx, session)
        return _on_incident(command, ref, ctx, session)


def _on_incident(command: grammar.Command, ref: str, ctx: Context, session: Session) -> str:
    """Carry out a command about one incident."""
    common: dict[str, Any] = {"session": session, "clock": ctx.clock, "notifier": ctx.notifier}
    if command.verb in STATUS_EVENTS:
        incident = flows.change_status(ref, STATUS_EVENTS[command.verb], actor=ctx.user_id, at=None,
                                       note=command.argument or None, **common)  # fmt: skip
        return f"{_key(incident)} is now {incident.status}."
    if command.verb == "note":
        flows.add_note(ref, text=command.argument, actor=ctx.user_id, at=None,
                       session=session, clock=ctx.clock)  # fmt: skip
        return f"Noted on {ref}."
    if command.verb == "summary":
        return impact_summary.post_summary(ref, ctx, session)
    if command.verb == "override":
        return _override(command, ref, ctx, session)
    if command.verb == "status":
        return _status(queries.show_incident(ref, session=session).incident, ctx)
    values = _edit_values(command, ctx)
    incident = edits.edit_incident(ref, values=values, actor=ctx.user_id, **common)
    return f"{_key(incident)} updated: {', '.join(values)}."


def _override(command: grammar.Command, ref: str, ctx: Context, session: Session) -> str:
    """Route a slice elsewhere (mitigating the incident) and say how much traffic moves."""
    spec = grammar.override_spec(command.argument)
    now = ctx.clock.now()
    expires_at = now + parse_duration(spec.lasting) if spec.lasting else None
    request = overrides.OverrideRequest(action=spec.action, slice=spec.slice, target=spec.target,
                                        expires_at=expires_at, actor=ctx.user_id)  # fmt: skip
    override = overrides.apply_override(ref, request,
                                        catalog=load_catalog(ctx.settings.runbooks_dir),
                                        session=session, clock=ctx.clock,
                                        notifier=ctx.notifier)  # fmt: skip
    incident = queries.show_incident(override.incident_id, session=session).incident
    lines = [
        f"{_key(incident)} override #{override.id}: {overrides.describe(override)}.",
        f"Guard rail: {overrides.guard_rail(override)}.",
        f"{_key(incident)} is {incident.status}.",
    ]
    if expires_at:
        lines.append(f"It ends by itself at {slack_date(expires_at)}.")
    return "\n".join(lines)


def _edit_values(command: grammar.Command, ctx: Context) -> dict[str, Any]:
    """Return the field changes of sev, lead and started."""
    if command.verb == "sev":
        return {"severity": parse_severity(command.argument).value}
    if command.verb == "lead":
        return {"commander": grammar.mentioned_user(command.argument)}
    zone = user_timezone(ctx.client, ctx.user_id, default=ctx.settings.default_timezone)
    return {"impact_started_at": parse_human_time(command.argument, tz=zone, now=ctx.clock.now())}


def _declare(command: grammar.Command, ctx: Context, session: Session) -> str:
    """Declare an incident with the person who typed it as reporter and commander."""
    severity, title = grammar.declaration(command.argument)
    if not title:
        raise InvalidInput("usage: `/incident declare [sev1-4] <title>`", fields=["title"])
    declaration = flows.Declaration(
        title=title[:300],
        severity=parse_severity(severity or "3"),
        actor=ctx.user_id,
        commander=ctx.user_id,
    )
    incident = flows.declare(declaration, session=session, clock=ctx.clock, notifier=ctx.notifier)
    key = _key(incident)
    return f"Declared {key} ({incident.severity}): {incident.title}. A channel is on its way."


def declare_from_form(*, title: str, severity: str, service: str | None, ctx: Context) -> str:
    """Declare an incident from the submitted form."""
    declaration = flows.Declaration(
        title=title[:300],
        severity=parse_severity(severity or "3"),
        service=service or None,
        actor=ctx.user_id,
        commander=ctx.user_id,
    )
    with Session(ctx.engine, expire_on_commit=False) as session:
        incident = flows.declare(
            declaration, session=session, clock=ctx.clock, notifier=ctx.notifier
        )
    return f"Declared {_key(incident)} ({incident.severity}): {incident.title}."


def incident_for(command: grammar.Command, ctx: Context) -> str:
    """Return the incident a command is about (named, or the channel's own)."""
    with Session(ctx.engine) as session:
        return _incident_ref(command, ctx, session)


def _incident_ref(command: grammar.Command, ctx: Context, session: Session) -> str:
    """Return the incident named in the command, or the one whose channel this is."""
    if command.incident:
        return command.incident
    found = _channel_incident(ctx, session)
    if found is None:
        raise NotFound("name the incident, e.g. `/incident ack #42`, or run this in its channel")
    return str(found.id)


def _channel_incident(ctx: Context, session: Session) -> Incident | None:
    """Return the incident whose channel the command was typed in, if any."""
    return session.exec(
        select(Incident)
        .where(Incident.slack_channel == ctx.channel_id)
        .order_by(col(Incident.id).desc())
    ).first()


def _status(incident: Incident, ctx: Context) -> str:
    """Describe an incident in a few lines."""
    lines = [f"*{_key(incident)}* {incident.severity} · {incident.status} — {incident.title}"]
    stamps = (
        ("impact started", incident.impact_started_at),
        ("detected", incident.detected_at),
        ("acknowledged", incident.acknowledged_at),
        ("mitigated", incident.mitigated_at),
        ("resolved", incident.resolved_at),
    )
    for label, value in stamps:
        if value is not None:
            lines.append(f"{label}: {slack_date(value)}")
    impact = (incident.mitigated_at or ctx.clock.now()) - incident.impact_started_at
    lines.append(f"customers affected for {format_duration(max(impact, timedelta(0)))}")
    return "\n".join(lines)


def _oncall(command: grammar.Command, ctx: Context, session: Session) -> str:
    """Say who is on call for the named service, else for this channel's incident."""
    incident = None if command.argument else _channel_incident(ctx, session)
    service = oncall.service_of(command.argument, incident)
    return oncall.oncall_answer(service, client=ctx.client, settings=ctx.settings)


def _list(ctx: Context, session: Session) -> str:
    """List open incidents, newest first."""
    where = incident_filter(
        status="open",
        severity=None,
        service=None,
        model=None,
        since=None,
        until=None,
        timezone=ctx.settings.default_timezone,
        now=ctx.clock.now(),
    )
    page = queries.list_incidents(where=where, limit=LIST_LIMIT, cursor=None, session=session)
    if not page.items:
        return "No open incidents. :tada:"
    return "\n".join(
        f"• *{_key(i)}* {i.severity} {i.status} — {i.title}{_about(i)}" for i in page.items
    )


def _about(incident: Incident) -> str:
    """Say which model slice an incident is scoped to, when it is (lists stay short)."""
    if not incident.slice:
        return ""
    return f" ({subject(incident.service, incident.model, incident.slice)})"


def _metrics(command: grammar.Command, ctx: Context, session: Session) -> str:
    """Summarise MTTx medians per severity over a window (default 30 days)."""
    query = metrics_query(since=command.argument or "30d", until=None, group_by="severity",
                          filters={}, trend=False, timezone=ctx.settings.default_timezone,
                          now=ctx.clock.now())  # fmt: skip
    report = metrics.report(query, session=session)
    if not report.groups:
        return f"No incidents detected since {command.argument or '30d'}."
    lines = [f"MTTx medians since {report.since:%Y-%m-%d} (n; * = fewer than 5):"]
    for group in report.groups:
        cells = []
        for metric in METRICS:
            summary = group.summaries[metric.name]
            mark = "*" if summary.note else ""
            cells.append(f"{metric.short} {format_duration(summary.median)} ({summary.n}{mark})")
        lines.append(f"• {group.key['severity']}: " + " · ".join(cells))
    return "\n".join(lines)


def user_timezone(client: WebClient, user_id: str, *, default: str) -> str:
    """Return the Slack user's IANA timezone, or `default` when Slack does not say."""
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except (SlackApiError, OSError):  # Slack slow or down: the command still answers in time
        return default
    return str(user.get("tz") or default)


def _key(incident: Incident) -> str:
    """Return the incident's key."""
    assert incident.id is not None
    return incident_key(incident.id)
