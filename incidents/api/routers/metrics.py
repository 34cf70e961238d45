"""GET /api/metrics: MTTD / MTTA / MTTM / MTTR as medians, p90, counts and exclusions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from incidents.api.deps import ApiAuth, ClockDep, SessionDep, SettingsDep
from incidents.api.metrics_schemas import MetricsOut
from incidents.api.routers.incidents import ERRORS
from incidents.flows import metrics
from incidents.flows.filters import metrics_query

router = APIRouter(prefix="/api", tags=["metrics"], dependencies=[ApiAuth])
Text = Annotated[str | None, Query(max_length=500)]


@router.get("/metrics", responses=ERRORS)
def get_metrics(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    since: Annotated[str | None, Query(description="detected at or after: ISO date or 90d")] = None,
    until: Annotated[str | None, Query(description="detected before (default now)")] = None,
    group_by: Annotated[
        str | None,
        Query(
            description="comma list of severity, service, model, slice, source and one of "
            "week, month, quarter"
        ),
    ] = None,  # fmt: skip
    severity: Text = None,
    service: Text = None,
    model: Text = None,
    slice: Text = None,  # noqa: A002 (the public parameter name)
    source: Text = None,
    trend: Annotated[bool, Query(description="compare each group with the period before")] = False,
) -> MetricsOut:
    """Report MTTx per group; `definitions` says exactly what every figure means."""
    query = metrics_query(
        since=since,
        until=until,
        group_by=group_by,
        filters={"severity": severity, "service": service, "model": model, "slice": slice,
                 "source": source},
        trend=trend,
        timezone=settings.default_timezone,
        now=clock.now(),
    )  # fmt: skip
    return MetricsOut.of(metrics.report(query, session=session))
