"""Self-metrics in Prometheus format: request counts and latency, incidents opened and open.

Request metrics live in a registry per app (tests build many apps). Incident figures are
read from the database at scrape time, so every worker process reports the same truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from incidents.domain.severity import Severity
from incidents.store import incidents as store
from incidents.store import outbox as outbox_store
from incidents.store.outbox import OutboxState

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Telemetry:
    """The metrics of one app instance."""

    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "incidents_http_requests_total",
            "HTTP requests answered, by method, route and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "incidents_http_request_duration_seconds",
            "Time from request start to the end of the response, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(IncidentCollector(engine))


class IncidentCollector(Collector):
    """Read incident counts from the database at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        """Yield incidents opened (ever) and open incidents by severity."""
        with Session(self._engine) as session:
            opened = store.count_incidents(session)
            open_by_severity = store.count_open_by_severity(session)
            outbox = outbox_store.count_by_state(session)
        total = CounterMetricFamily(
            "incidents_opened", "Incidents opened since the database began."
        )
        total.add_metric([], opened)
        yield total
        gauge = GaugeMetricFamily(
            "incidents_open", "Unresolved incidents by severity.", labels=["severity"]
        )
        for severity in Severity:
            gauge.add_metric([severity.value], open_by_severity.get(severity.value, 0))
        yield gauge
        messages = GaugeMetricFamily(
            "incidents_outbox_messages",
            "Outbox messages by state (pending + delivering = backlog; dead = failed for good).",
            labels=["state"],
        )
        for state in OutboxState:
            messages.add_metric([state.value], outbox.get(state.value, 0))
        yield messages


class MetricsMiddleware:
    """Count and time every HTTP request, labelled by route template (not raw path)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record it once the response has started."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._observe(scope, status["code"], time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Record one finished request."""
        route = _route_template(scope)
        method = str(scope.get("method", "?"))
        self.telemetry.requests.labels(method, route, str(status)).inc()
        self.telemetry.latency.labels(method, route).observe(seconds)


def _route_template(scope: Scope) -> str:
    """Return the matched route's path template, so label cardinality stays bounded."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
