"""What a postmortem document is rendered from: plain values, read fresh from the database.

``flows.postmortems.document_context`` builds it; templates never query anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One line of the incident's timeline."""

    at: datetime
    kind: str
    actor: str | None
    text: str | None


@dataclass(frozen=True, slots=True)
class AlertItem:
    """One alert that fired for the incident."""

    source: str
    title: str
    severity: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    seen_count: int


@dataclass(frozen=True, slots=True)
class WhyItem:
    """One step of the 5 Whys chain."""

    position: int
    question: str
    answer: str
    author: str | None
    is_root_cause: bool


@dataclass(frozen=True, slots=True)
class ActionItem:
    """A follow-up the team committed to."""

    text: str
    owner: str | None
    due: date | None
    why_position: int | None
    status: str


@dataclass(frozen=True, slots=True)
class BudgetItem:
    """What the incident cost one SLO's error budget."""

    slo: str
    bad_events: int
    consumed: float | None  # fraction of the period's budget
    postmortem_required: bool  # more than 20% spent by this one incident


@dataclass(frozen=True, slots=True)
class GateItem:
    """One release-gate verdict for the incident's service around the incident."""

    checked_at: datetime
    decision: str
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PostmortemContext:
    """Everything the postmortem templates show (seconds for durations; None when unknown)."""

    key: str
    title: str
    severity: str
    status: str
    summary: str | None
    service: str | None
    model: str | None
    slice: str | None
    commander: str | None
    impact_started_at: datetime
    impact_started_source: str
    detected_at: datetime
    reported_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    time_to_detect: float | None
    time_to_acknowledge: float | None
    time_to_mitigate: float | None
    time_to_resolve: float | None
    detection_source: str
    problem_statement: str | None
    postmortem_status: str
    whys: list[WhyItem] = field(default_factory=list)
    actions: list[ActionItem] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)
    alerts: list[AlertItem] = field(default_factory=list)
    runbook: str | None = None
    went_well: list[str] = field(default_factory=list)
    went_wrong: list[str] = field(default_factory=list)
    got_lucky: list[str] = field(default_factory=list)
    contributing_factors: list[str] = field(default_factory=list)
    error_budget: list[BudgetItem] = field(default_factory=list)
    release_checks: list[GateItem] = field(default_factory=list)
    generated_at: datetime | None = None
