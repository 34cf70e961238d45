"""The release gate (DESIGN §11): GO, NO-GO or EXTEND for one canary step, from the
service's error budget and canary-versus-baseline evidence; every verdict is recorded with
its inputs so a later postmortem can show what the gate saw."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.gate import Arm, GatePolicy, Verdict, decide
from incidents.errors import NotFound
from incidents.flows.ports import Clock
from incidents.flows.slos import status
from incidents.slos import Slo, find, load_slos
from incidents.store import slos as store
from incidents.store.models import Incident, ReleaseCheck


def slo_for(service: str, *, name: str | None, settings: Settings) -> Slo:
    """Return the named SLO, else the first event-based SLO of the service or model."""
    if name:
        return find(settings.runbooks_dir, name)
    candidates = [s for s in load_slos(settings.runbooks_dir) if service in (s.service, s.model)]
    candidates.sort(key=lambda s: s.sli != "events")
    if not candidates:
        raise NotFound(f"no SLO for {service!r}: add one to runbooks/slos.yaml or name one (slo)")
    return candidates[0]


def check_release(
    service: str,
    canary: Arm,
    baseline: Arm,
    *,
    slo_name: str | None,
    options: dict[str, float],
    inputs: dict[str, Any],
    settings: Settings,
    session: Session,
    clock: Clock,
) -> tuple[Verdict, ReleaseCheck, Slo]:
    """Decide, record the verdict with its inputs, and return both."""
    slo = slo_for(service, name=slo_name, settings=settings)
    now = clock.now()
    remaining = status(slo, session=session, now=now).budget.remaining
    policy = GatePolicy(objective=slo.objective, **options)
    verdict = decide(canary, baseline, budget_remaining=remaining, policy=policy)
    record = ReleaseCheck(service=service, decision=verdict.decision,
                          inputs={**inputs, "slo": slo.name}, verdict=_json(verdict),
                          checked_at=now)  # fmt: skip
    session.add(record)
    session.commit()
    return verdict, record, slo


def _json(verdict: Verdict) -> dict[str, Any]:
    """Return the verdict as JSON-ready data."""
    data = asdict(verdict)
    data["tests"] = [dict(test) for test in verdict.tests]
    return data


GATE_LOOKBACK = timedelta(days=1)  # a release the day before impact may well be the cause


def checks_around(incident: Incident, *, session: Session, now: datetime) -> list[ReleaseCheck]:
    """Return the gate's verdicts for the incident's service or model from a day before impact."""
    names = [name for name in (incident.service, incident.model) if name]
    end = incident.resolved_at or now
    return store.checks_between(session, names, start=incident.impact_started_at - GATE_LOOKBACK,
                                end=end)  # fmt: skip
