"""SLOs at run time (DESIGN §11): take pushed SLI counts, compute budgets, burn rates and the
multiwindow alert state, open and resolve burn incidents, and tell what an incident spent.

Burn incidents go through ordinary intake as alerts from source ``slo`` with group key
``<slo>|<severity>``: the most severe firing rule fires its group; a group whose rules have
all stopped firing (both windows back under the threshold) is resolved, which settles and
auto-resolves its incident. Evaluation runs after every push and on the worker's tick.
SLOs whose SLI is incident minutes are never evaluated for burn alerts (incidents opening
incidents about themselves would be a loop).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from incidents.config import Settings
from incidents.domain import slo as math
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.refs import MAX_ID
from incidents.domain.severity import Severity
from incidents.errors import InvalidInput
from incidents.flows.intake import receive
from incidents.flows.ports import Clock, Notifier
from incidents.slos import Slo, load_slos
from incidents.store import incidents as incident_store
from incidents.store import intake as intake_store
from incidents.store import slos as store
from incidents.store.models import Incident

SOURCE = "slo"
MAX_ITEMS = 10_000
SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class EventItem:
    """Good and total events at one moment (counted in that moment's minute)."""

    at: datetime
    good: int
    total: int


@dataclass(frozen=True, slots=True)
class SloStatus:
    """Everything known about one SLO now."""

    slo: Slo
    budget: math.Budget
    burn_rates: dict[str, float | None]
    alert: math.AlertState
    time_to_exhaustion: timedelta | None
    sli: float | None


def windows_of(slo: Slo) -> list[timedelta]:
    """Return every window the status needs: the period, the burn windows, each rule's pair."""
    rules = math.alert_windows(slo.window)
    found = {slo.window, *math.BURN_RATE_WINDOWS}
    for rule in rules:
        found |= {rule.long, rule.short}
    return sorted(found)


def status(slo: Slo, *, session: Session, now: datetime) -> SloStatus:
    """Compute the budget, burn rates, alert state and time to exhaustion of an SLO now."""
    counts = counts_by_window(slo, windows_of(slo), session=session, now=now)
    period = counts[slo.window]
    budget = math.budget(slo.objective, slo.window, period)
    alert = math.evaluate_alerts(slo.objective, slo.window, counts, min_events=slo.min_events)
    recent = counts[timedelta(hours=1)]
    return SloStatus(
        slo=slo,
        budget=budget,
        burn_rates=math.burn_rates(slo.objective, counts),
        alert=alert,
        time_to_exhaustion=math.time_to_exhaustion(budget, recent, timedelta(hours=1)),
        sli=math.sli_ratio(period),
    )


def counts_by_window(
    slo: Slo, windows: Sequence[timedelta], *, session: Session, now: datetime
) -> dict[timedelta, math.Counts]:
    """Return good/total per trailing window, from pushed events or incident minutes."""
    if slo.sli == "events":
        sums = store.window_sums(session, slo.name, now=now, windows=windows)
        return {w: math.Counts(good=g, total=t) for w, (g, t) in sums.items()}
    intervals = _impact_intervals(slo, session=session, now=now, since=now - max(windows))
    return {w: _minute_counts(intervals, start=now - w, end=now) for w in windows}


def _impact_intervals(
    slo: Slo, *, session: Session, now: datetime, since: datetime
) -> list[tuple[datetime, datetime]]:
    """Return the customer-impact intervals of the SLO's incidents that reach into the range."""
    subject = (
        col(Incident.model) == slo.model if slo.model else col(Incident.service) == slo.service
    )
    rows = session.exec(
        select(Incident).where(subject).where(col(Incident.impact_started_at) < now)
    ).all()
    rank = Severity(slo.min_severity).rank
    return [
        (incident.impact_started_at, min(incident.mitigated_at or now, now))
        for incident in rows
        if Severity(incident.severity).rank <= rank and (incident.mitigated_at or now) > since
    ]


def _minute_counts(
    intervals: list[tuple[datetime, datetime]], *, start: datetime, end: datetime
) -> math.Counts:
    """Count the window's minutes and those covered by any impact interval (overlaps once)."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals if b > start and a < end)
    covered = timedelta(0)
    current_start: datetime | None = None
    current_end: datetime | None = None
    for a, b in clipped:
        if current_end is None or a > current_end:
            if current_start is not None and current_end is not None:
                covered += current_end - current_start
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_start is not None and current_end is not None:
        covered += current_end - current_start
    total = int((end - start) / timedelta(minutes=1))
    bad = min(total, round(covered / timedelta(minutes=1)))
    return math.Counts(good=total - bad, total=total)


def record_events(
    slo: Slo,
    items: Sequence[EventItem],
    *,
    settings: Settings,
    session: Session,
    clock: Clock,
    notifier: Notifier,
) -> int:
    """Store a batch of counts (summed per minute; a re-sent minute replaces the stored one)."""
    if slo.sli != "events":
        raise InvalidInput(f"{slo.name} measures incident minutes; it takes no pushed events")
    now = clock.now()
    minutes = _per_minute(items, oldest=now - slo.window, newest=now + SKEW)
    rows = [(minute, good, total) for minute, (good, total) in sorted(minutes.items())]
    written = store.upsert_buckets(session, slo.name, rows)
    session.commit()
    evaluate_burn(slo, settings=settings, session=session, clock=clock, notifier=notifier)
    return written


def _per_minute(
    items: Sequence[EventItem], *, oldest: datetime, newest: datetime
) -> dict[datetime, tuple[int, int]]:
    """Sum a batch per minute, refusing counts outside the window or impossible ones."""
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"at most {MAX_ITEMS} items per request", fields=["items"])
    minutes: dict[datetime, tuple[int, int]] = {}
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if item.good < 0 or item.total < 0 or item.good > item.total:
            raise InvalidInput(f"{where}: need 0 ≤ good ≤ total", fields=[f"{where}.good"])
        if not oldest <= item.at <= newest:
            raise InvalidInput(f"{where}.at: outside the SLO window or in the future",
                               fields=[f"{where}.at"])  # fmt: skip
        minute = store.bucket_of(item.at)
        good, total = minutes.get(minute, (0, 0))
        good, total = good + item.good, total + item.total
        if total > MAX_ID:  # the bucket columns are 32-bit integers in PostgreSQL
            raise InvalidInput(f"{where}.total: at most {MAX_ID} events per minute",
                               fields=[f"{where}.total"])  # fmt: skip
        minutes[minute] = (good, total)
    return minutes


def evaluate_burn(
    slo: Slo, *, settings: Settings, session: Session, clock: Clock, notifier: Notifier
) -> math.AlertState | None:
    """Open or resolve the SLO's burn incidents from its alert state now."""
    if slo.sli != "events":
        return None
    now = clock.now()
    state = status(slo, session=session, now=now).alert
    firing = {rule["severity"] for rule in state.rules if rule["firing"]}
    alerts: list[Alert] = []
    for severity in sorted({rule["severity"] for rule in state.rules}):
        group = f"{slo.name}|{severity}"
        opened = intake_store.find_open_incident(session, source=SOURCE, group_key=group)
        if severity == state.severity and opened is None:
            alerts.append(_burn_alert(slo, severity, state.reason, AlertStatus.FIRING, now, now))
        elif severity not in firing and opened is not None and opened.id is not None:
            started = _firing_since(session, opened.id, group) or now
            alerts.append(
                _burn_alert(slo, severity, state.reason, AlertStatus.RESOLVED, started, now)
            )
    if alerts:
        key = f"{slo.name}:{now:%Y%m%d%H%M}:{','.join(f'{a.severity}{a.status}' for a in alerts)}"
        receive(SOURCE, alerts, delivery_key=key, settings=settings, session=session,
                clock=clock, notifier=notifier)  # fmt: skip
    return state


def _firing_since(session: Session, incident_id: int, fingerprint: str) -> datetime | None:
    """Return when the group's burn alert started firing (a resolve must name that alert)."""
    starts = [a.starts_at for a in incident_store.list_alerts(session, incident_id)
              if a.fingerprint == fingerprint]  # fmt: skip
    return max(starts) if starts else None


def _burn_alert(
    slo: Slo, severity: str, reason: str, status_: AlertStatus, starts_at: datetime, now: datetime
) -> Alert:
    """Describe one SLO burn rule group as an alert."""
    return Alert(
        source=SOURCE,
        fingerprint=f"{slo.name}|{severity}",
        group_key=f"{slo.name}|{severity}",
        status=status_,
        severity=Severity(severity),
        title=f"Error budget burn on {slo.name} "
        f"({slo.objective:.2%} over {math.window_label(slo.window)})",
        summary=reason,
        labels={"signal": "slo_burn", "slo": slo.name},
        starts_at=starts_at,
        ends_at=now if status_ is AlertStatus.RESOLVED else None,
        service=slo.service,
        model=slo.model,
    )


def evaluate_all(session: Session, *, settings: Settings, clock: Clock, notifier: Notifier) -> None:
    """Evaluate every event-based SLO (the worker's tick)."""
    for slo in load_slos(settings.runbooks_dir):
        evaluate_burn(slo, settings=settings, session=session, clock=clock, notifier=notifier)


@dataclass(frozen=True, slots=True)
class Spent:
    """What one incident cost one SLO's error budget."""

    slo: str
    bad_events: int
    consumed: float | None
    postmortem_required: bool


def spent_by(
    incident: Incident, *, settings: Settings, session: Session, now: datetime
) -> list[Spent]:
    """Return the error budget each SLO of the incident's service or model lost to it."""
    end = min(incident.mitigated_at or now, now)
    found: list[Spent] = []
    for slo in load_slos(settings.runbooks_dir):
        if not _concerns(slo, incident):
            continue
        budget = status(slo, session=session, now=now).budget
        if slo.sli == "events":
            bad = store.bad_between(session, slo.name, start=incident.impact_started_at, end=end)
        else:
            bad = round((end - incident.impact_started_at) / timedelta(minutes=1))
        consumed = math.budget_consumed_by(max(bad, 0), budget)
        found.append(Spent(slo.name, max(bad, 0), consumed, math.postmortem_required(consumed)))
    return found


def _concerns(slo: Slo, incident: Incident) -> bool:
    """Tell whether an SLO measures the incident's model or service."""
    return bool(
        (slo.model and slo.model == incident.model)
        or (slo.service and slo.service == incident.service)
    )
