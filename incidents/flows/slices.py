"""Slice scans (DESIGN §9): run the statistics, and open one slice-scoped incident per
flagged slice when asked.

Flagged slices become alerts from source ``slices`` with group key
``<model>|<slice>|slice-regression``, so they go through ordinary intake: a repeated scan
while the incident is open adds to it instead of opening another, and the alert's window
start becomes the impact start.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from incidents.config import Settings
from incidents.domain.alert import Alert, AlertStatus
from incidents.domain.severity import Severity
from incidents.domain.slices import ScanOptions, ScanResult, SliceCounts, SliceResult, scan
from incidents.flows.intake import receive
from incidents.flows.ports import Clock, Notifier
from incidents.store import intake as intake_store

SOURCE = "slices"
SIGNAL = "performance"


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """What to scan and where the numbers come from."""

    model: str
    slices: list[SliceCounts]
    options: ScanOptions
    metric: str = "success_rate"
    service: str | None = None
    model_version: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """The scan and the incidents it opened or added to (key → incident id)."""

    result: ScanResult
    incidents: dict[str, int]


def run_scan(
    request: ScanRequest,
    *,
    open_incidents: bool,
    settings: Settings,
    session: Session,
    clock: Clock,
    notifier: Notifier,
) -> ScanOutcome:
    """Scan the slices; with `open_incidents`, file each flagged slice as an incident."""
    result = scan(request.slices, request.options)
    if not open_incidents or not result.flagged:
        return ScanOutcome(result, {})
    now = clock.now()
    alerts = [_alert(request, found, now=now) for found in result.flagged]
    receive(SOURCE, alerts, delivery_key=_delivery_key(request, now), settings=settings,
            session=session, clock=clock, notifier=notifier)  # fmt: skip
    incidents: dict[str, int] = {}
    for found, alert in zip(result.flagged, alerts, strict=True):
        opened = intake_store.find_open_incident(session, source=SOURCE, group_key=alert.group_key)
        if opened is not None and opened.id is not None:
            incidents[found.key] = opened.id
    return ScanOutcome(result, incidents)


def _alert(request: ScanRequest, found: SliceResult, *, now: datetime) -> Alert:
    """Describe a flagged slice as a firing alert of its own group."""
    drop = f"-{found.drop * 100:.1f} pp" if found.drop is not None else "dropped"
    labels = {"signal": SIGNAL, "metric": request.metric, "model": request.model,
              **{f"slice.{name}": value for name, value in found.slice.items()}}  # fmt: skip
    return Alert(
        source=SOURCE,
        fingerprint=f"{request.model}|{found.key}|{request.metric}",
        group_key=f"{request.model}|{found.key}|slice-regression",
        status=AlertStatus.FIRING,
        severity=Severity(found.severity or request.options.ticket_severity),
        title=f"Slice regression on {request.model}: {found.key} ({request.metric} {drop})",
        summary=found.reason,
        labels=labels,
        starts_at=now,
        service=request.service,
        model=request.model,
        model_version=request.model_version,
        slice=found.slice,
        impact_started_at=request.window_start,
    )


def _delivery_key(request: ScanRequest, now: datetime) -> str:
    """Key a scan by its content and minute, so a retried request is answered once."""
    content: dict[str, Any] = {
        "model": request.model, "metric": request.metric, "minute": now.strftime("%Y%m%d%H%M"),
        "slices": [[c.slice, c.reference_successes, c.reference_total, c.current_successes,
                    c.current_total] for c in request.slices],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
