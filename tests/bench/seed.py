"""Seed a database with many realistic incidents (heavy-tailed durations) for benchmarks.

Durations are log-normal, as incident durations are (reliability-math §3.2): detection
median 5 min, acknowledgement 3 min, mitigation 45 min after impact, resolution 2 h later.
About 30% of impact starts are defaulted, 5% of resolved incidents were never acknowledged,
and 2% are still open.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.progress import Progress
from sqlalchemy import Engine, insert

from incidents.store.models import Incident

START = datetime(2024, 11, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
SEVERITY_WEIGHTS = (0.05, 0.2, 0.45, 0.3)
SERVICES = tuple(f"service-{i:02d}" for i in range(20))
MODELS = ("loan-default", "recsys", "chatbot", "fraud", "churn")
SOURCES = ("alertmanager", "grafana", "events_v2", "ml", "manual")
BATCH = 10_000


def lognormal(rng: random.Random, median_seconds: float, sigma: float = 1.2) -> float:
    """Draw a log-normal duration with the given median."""
    return rng.lognormvariate(math.log(median_seconds), sigma)


def incident_row(rng: random.Random) -> dict[str, Any]:
    """Return one synthetic incident as a table row."""
    detected = START + timedelta(seconds=rng.uniform(0, SPAN_SECONDS))
    defaulted = rng.random() < 0.3
    impact = detected if defaulted else detected - timedelta(seconds=lognormal(rng, 300))
    status = "open" if rng.random() < 0.02 else "resolved"
    acked = None if rng.random() < 0.05 else detected + timedelta(seconds=lognormal(rng, 180))
    lasted = max(lognormal(rng, 2700), (detected - impact).total_seconds())
    mitigated: datetime | None = impact + timedelta(seconds=lasted)
    resolved: datetime | None = impact + timedelta(seconds=lasted + lognormal(rng, 7200))
    if status == "open":
        mitigated = mitigated if rng.random() < 0.5 else None
        resolved = None
    model = rng.choice(MODELS) if rng.random() < 0.3 else None
    slice_ = {"language": rng.choice(("de", "es", "fr"))} if model and rng.random() < 0.3 else None
    return {
        "title": "synthetic incident",
        "status": "resolved" if resolved else ("mitigated" if mitigated else "triggered"),
        "severity": rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0],
        "source": rng.choice(SOURCES),
        "service": rng.choice(SERVICES),
        "model": model,
        "slice": slice_,
        "slice_key": f"language={slice_['language']}" if slice_ else None,
        "impact_started_source": "defaulted" if defaulted else "source",
        "impact_started_at": impact,
        "detected_at": detected,
        "reported_at": detected,
        "acknowledged_at": acked,
        "mitigated_at": mitigated,
        "resolved_at": resolved,
        "created_at": detected,
        "updated_at": detected,
    }


def batches(count: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Yield rows in batches."""
    rng = random.Random(seed)
    for start in range(0, count, BATCH):
        yield [incident_row(rng) for _ in range(min(BATCH, count - start))]


def seed(engine: Engine, count: int, *, seed_value: int = 42) -> None:
    """Insert `count` incidents, showing a progress bar."""
    table = Incident.__table__  # type: ignore[attr-defined]
    with Progress() as progress:
        task = progress.add_task(
            f"seeding {count:,} incidents ({engine.dialect.name})", total=count
        )
        for rows in batches(count, seed_value):
            with engine.begin() as connection:
                connection.execute(insert(table), rows)
            progress.advance(task, len(rows))
