"""What a stakeholder summary says (DESIGN §8), as plain data the templates read.

Built by ``flows.summary``; every text a template prints is computed there once, so the
Markdown, HTML and Slack versions can never disagree on a figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from incidents.domain.impact import Estimate


@dataclass(frozen=True, slots=True)
class Money:
    """The impact figure with everything a reader needs to check it."""

    currency: str
    estimate: Estimate
    text: str
    per_hour_text: str
    detection_delay_text: str | None
    affected_text: str
    formula_line: str


@dataclass(frozen=True, slots=True)
class Prevention:
    """One action item that should stop the incident from recurring."""

    text: str
    owner: str | None
    due: date | None
    status: str


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything a stakeholder summary says, in the order it says it."""

    key: str
    title: str
    severity: str
    status: str
    subject: str
    headline: str
    money: Money | None
    what_users_see: str
    since: datetime
    since_known: bool
    mitigated_at: datetime | None
    resolved_at: datetime | None
    duration: str
    what_we_are_doing: str
    eta: str
    next_update_at: datetime | None
    prevention: list[Prevention]
    incident_url: str
    generated_at: datetime
