"""The FastAPI app factory: nothing is built at import time."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import configure_mappers
from starlette.types import Receive, Scope, Send

from incidents import __version__
from incidents.api.errors import install_error_handlers
from incidents.api.fast_intake import FastIntake
from incidents.api.routers import (
    events_v2,
    health,
    incidents,
    metrics,
    oncall,
    outbox,
    overrides,
    postmortems,
    runbooks,
    slack,
    slices,
    slos,
    webhooks,
)
from incidents.api.telemetry import MetricsMiddleware, Telemetry
from incidents.config import Settings, get_settings
from incidents.flows.group_commit import GroupCommitter
from incidents.flows.ports import Clock, Notifier, SystemClock
from incidents.outbox.runtime import (
    background_worker,
    build_notifier,
    build_worker,
    slack_configured,
)
from incidents.paging.notifier import paging_configured
from incidents.store.db import build_engine
from incidents.store.migrate import head_revision
from incidents.web import install as install_web

DESCRIPTION = (
    "Incident records, lifecycle timestamps and honest MTTx. All `/api/*` routes take "
    "`Authorization: Bearer <INCIDENTS_API_TOKEN>` when a token is configured."
)


class IncidentsApp(FastAPI):
    """The FastAPI app with the webhook hot path in front of its middleware stack."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a plain webhook delivery on the hot path; everything else as usual."""
        fast: FastIntake = self.state.fast_intake
        adapter = fast.adapter_for(scope)
        if adapter is None:
            await super().__call__(scope, receive, send)
            return
        await fast.serve(adapter, scope, receive, send, full=super().__call__)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    run_worker: bool | None = None,
) -> FastAPI:
    """Build the HTTP app for `settings`; tests pass their own engine and clock.

    The outbox worker runs inside the app (a thread) when Slack or PagerDuty is configured,
    unless ``run_worker`` is False (then run ``incidents worker`` as separate processes).
    """
    engine = engine or build_engine(settings.database_url)
    clock = clock or SystemClock()
    needed = slack_configured(settings) or paging_configured(settings)
    in_process = needed if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not in_process:
            yield
            return
        with background_worker(build_worker(engine, settings=settings, clock=clock)):
            yield

    app = IncidentsApp(
        title="incidents", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    app.state.notifier = build_notifier(settings)
    app.state.bolt = _bolt(settings, engine=engine, clock=clock, notifier=app.state.notifier)
    app.state.migration_head = head_revision()
    app.state.telemetry = Telemetry(app.state.engine)
    app.state.committer = GroupCommitter(engine, settings=settings, clock=clock)
    app.state.fast_intake = FastIntake(app)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(incidents.router)
    app.include_router(metrics.router)
    app.include_router(postmortems.router)
    app.include_router(outbox.router)
    app.include_router(oncall.router)
    app.include_router(overrides.router)
    app.include_router(slices.router)
    app.include_router(slos.router)
    app.include_router(runbooks.router)
    app.include_router(slack.router)
    app.include_router(events_v2.router)  # before the generic /webhooks/{source}
    app.include_router(webhooks.router)
    install_web(app)  # the pages: / → /ui/incidents, /ui/*
    app.add_middleware(MetricsMiddleware, telemetry=app.state.telemetry)
    return app


def _bolt(settings: Settings, *, engine: Engine, clock: Clock, notifier: Notifier) -> Any:
    """Build the Slack Bolt app when a signing secret is configured."""
    if settings.slack_signing_secret is None:
        return None
    from incidents.slack.app import build_bolt_app  # imported only when Slack is on

    return build_bolt_app(settings, engine=engine, clock=clock, notifier=notifier)


def app_from_environment() -> FastAPI:
    """Build the app from environment settings (uvicorn's factory for worker processes)."""
    app = create_app(get_settings())
    configure_mappers()  # now, not in the first delivery's batch (tens of ms on one core)
    settle_garbage_collector()
    return app


# Python's cyclic garbage collector scans every tracked object in its oldest generation:
# after the imports that is about a million (SQLAlchemy, pydantic, FastAPI), and under an
# alert storm such a scan came every second or so and stopped the server for 130 ms (the
# storm's p99 latency, and a tenth of its CPU). Freezing what exists once the app is built
# takes those objects out of every later scan; a larger first threshold lets a batch's
# short-lived objects die before anything scans them.
GC_THRESHOLDS = (20_000, 20, 20)


def settle_garbage_collector() -> None:
    """Freeze the objects of a built app out of the collector's scans (serving processes)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
