"""POST /api/slices/scan: which slices got worse, honestly (BH, effect floor, minimum n)."""

from __future__ import annotations

from fastapi import APIRouter

from incidents.api.deps import ApiAuth, ClockDep, NotifierDep, SessionDep, SettingsDep
from incidents.api.routers.incidents import ERRORS
from incidents.api.slice_schemas import ScanIn, ScanOut
from incidents.domain.refs import incident_key
from incidents.domain.slices import ScanOptions, SliceCounts
from incidents.flows import slices

router = APIRouter(prefix="/api/slices", tags=["slices"], dependencies=[ApiAuth])


@router.post("/scan", responses=ERRORS)
def scan_slices(
    body: ScanIn, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    notifier: NotifierDep,
) -> ScanOut:  # fmt: skip
    """Scan per-slice success counts; `open_incidents` files each flagged slice."""
    counts = [SliceCounts(slice=s.slice, reference_successes=s.reference.successes,
                          reference_total=s.reference.total,
                          current_successes=s.current.successes, current_total=s.current.total)
              for s in body.slices]  # fmt: skip
    options = ScanOptions(q=body.q, min_effect=body.min_effect, min_n=body.min_n,
                          page_effect=body.page_effect, page_severity=body.page_severity,
                          ticket_severity=body.ticket_severity)  # fmt: skip
    request = slices.ScanRequest(
        model=body.model, slices=counts, options=options, metric=body.metric,
        service=body.service, model_version=body.model_version,
        window_start=body.window_start, window_end=body.window_end,
    )  # fmt: skip
    outcome = slices.run_scan(request, open_incidents=body.open_incidents, settings=settings,
                              session=session, clock=clock, notifier=notifier)  # fmt: skip
    keys = {key: incident_key(incident_id) for key, incident_id in outcome.incidents.items()}
    return ScanOut.of(body.model, body.metric, outcome.result, keys)
