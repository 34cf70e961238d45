"""``/incident release-check <service>``: the error budget now and the release gate's last
verdict for the service (the deployment pipeline asks the gate; Slack shows what it said)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from incidents.flows.releases import slo_for
from incidents.flows.slos import status
from incidents.reports.render import mrkdwn_filter
from incidents.slack.blocks import slack_date
from incidents.slack.context import Context
from incidents.store.slos import latest_check

GUARD_MARK = {True: ":white_check_mark:", False: ":x:"}
DECISION_EMOJI = {"go": ":large_green_circle:", "no-go": ":red_circle:", "extend": ":hourglass:"}


def answer(service: str, *, ctx: Context, session: Session) -> str:
    """Describe the service's budget and the gate's latest verdict, guard by guard."""
    name = service.strip()
    slo = slo_for(name, name=None, settings=ctx.settings)
    budget = status(slo, session=session, now=ctx.clock.now()).budget
    remaining = "no data" if budget.remaining is None else f"{budget.remaining:.0%} left"
    lines = [f"*{mrkdwn_filter(slo.name)}* error budget: {remaining} ({budget.state})"]
    check = latest_check(session, name)
    if check is None:
        lines.append(f"No release check recorded for {mrkdwn_filter(name)} yet: the pipeline "
                     "asks `POST /api/releases/check` before each canary step.")  # fmt: skip
        return "\n".join(lines)
    verdict: dict[str, Any] = check.verdict
    emoji = DECISION_EMOJI.get(check.decision, "")
    lines.append(f"{emoji} Last gate verdict: *{check.decision.upper()}* "
                 f"({slack_date(check.checked_at)})")  # fmt: skip
    lines.extend(f"• {mrkdwn_filter(reason)}" for reason in verdict.get("reasons", []))
    for guard in verdict.get("guards", []):
        mark = {True: ":white_check_mark:", False: ":x:"}.get(
            guard.get("passed"), ":grey_question:"
        )
        lines.append(f"{mark} {mrkdwn_filter(guard['name'])}: {mrkdwn_filter(guard['detail'])}")
    return "\n".join(lines)
