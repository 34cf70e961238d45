"""SLOs (GET, push events) and the release gate (POST /api/releases/check), DESIGN §11."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from incidents.api.deps import ApiAuth, ClockDep, NotifierDep, SessionDep, SettingsDep
from incidents.api.routers.incidents import ERRORS
from incidents.api.slo_schemas import EventIn, EventsOut, ReleaseCheckIn, SloOut
from incidents.flows import releases, slos
from incidents.slos import find, load_slos

router = APIRouter(prefix="/api", tags=["slos"], dependencies=[ApiAuth])


@router.get("/slos", responses=ERRORS)
def list_slos(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> list[SloOut]:
    """Every SLO with its budget, burn rates and alert state now."""
    now = clock.now()
    return [SloOut.of(slos.status(s, session=session, now=now))
            for s in load_slos(settings.runbooks_dir)]  # fmt: skip


@router.get("/slos/{name}", responses=ERRORS)
def get_slo(name: str, session: SessionDep, settings: SettingsDep, clock: ClockDep) -> SloOut:
    """One SLO now."""
    found = find(settings.runbooks_dir, name)
    return SloOut.of(slos.status(found, session=session, now=clock.now()))


@router.post("/slos/{name}/events", responses=ERRORS)
def push_events(
    name: str,
    items: Annotated[list[EventIn], Body(max_length=10_000)],
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    notifier: NotifierDep,
) -> EventsOut:
    """Store good/total counts per minute (a re-sent minute replaces it) and evaluate burn."""
    found = find(settings.runbooks_dir, name)
    events = [slos.EventItem(at=i.at, good=i.good, total=i.total) for i in items]
    written = slos.record_events(found, events, settings=settings, session=session, clock=clock,
                                 notifier=notifier)  # fmt: skip
    state = slos.status(found, session=session, now=clock.now()).alert
    return EventsOut(buckets=written, alert={"firing": state.firing, "severity": state.severity,
                                             "reason": state.reason})  # fmt: skip


@router.post("/releases/check", responses=ERRORS)
def check_release(
    body: ReleaseCheckIn, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> dict[str, Any]:
    """GO, NO-GO or EXTEND for a canary step, with every guard's numbers; recorded."""
    options = {"budget_floor": body.budget_floor, "alpha": body.alpha, "power": body.power,
               "min_detectable_effect": body.min_detectable_effect}  # fmt: skip
    verdict, record, slo = releases.check_release(
        body.service, body.canary.arm(), body.baseline.arm(), slo_name=body.slo,
        options=options, inputs=body.model_dump(mode="json"), settings=settings,
        session=session, clock=clock,
    )  # fmt: skip
    return {**record.verdict, "slo": slo.name, "check_id": record.id,
            "checked_at": record.checked_at}  # fmt: skip
