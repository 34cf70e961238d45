"""Benchmark: GET /api/metrics?group_by=severity,month at a million incidents, against one
plain aggregate query (count and average per severity and month) over the same table, on
SQLite and PostgreSQL, in one run. Prints the times, their ratio and the peak memory.

    python -m tests.bench.metrics                    # 1,000,000 incidents, both databases
    python -m tests.bench.metrics --count 100000 --reuse

Targets (issue 4): ratio ≤ 3 on both databases, peak RSS ≤ 500 MB. Each database is measured
in a fresh child process, so its peak RSS is the request's own. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from incidents.api.app import create_app
from incidents.config import Settings
from incidents.store import migrate
from incidents.store.db import build_engine
from incidents.store.models import Incident
from tests.bench.seed import seed

DEFAULT_SQLITE = "sqlite:////tmp/incidents-bench.db"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/incidents_bench"
ROUNDS = 3
MONTH = {
    "sqlite": "substr(detected_at, 1, 7)",
    "postgresql": "to_char(date_trunc('month', timezone('UTC', detected_at)), 'YYYY-MM')",
}
RESOLVE_SECONDS = {
    "sqlite": "(julianday(resolved_at) - julianday(impact_started_at)) * 86400.0",
    "postgresql": "date_part('epoch', resolved_at - impact_started_at)",
}


def plain_query(dialect: str) -> str:
    """Return the baseline: count and mean time to resolve per severity and month."""
    return (
        f"SELECT severity, {MONTH[dialect]} AS month, count(*), avg({RESOLVE_SECONDS[dialect]}) "
        "FROM incidents GROUP BY 1, 2"
    )


def prepare(url: str, count: int, *, reuse: bool) -> None:
    """Create (or reuse) a database holding exactly `count` seeded incidents."""
    if not reuse:
        _recreate(url)
    engine = build_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as session:
        present = session.execute(select(func.count()).select_from(Incident)).scalar_one()
    if present != count:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM incidents"))
        seed(engine, count)
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()


def _recreate(url: str) -> None:
    """Start from an empty database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    admin = build_engine(parsed.set(database="postgres").render_as_string(False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}"'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def best_of(action: Any) -> float:
    """Return the fastest of a few runs, in seconds."""
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(url: str) -> dict[str, Any]:
    """Time the endpoint and the plain query on one database (run in a child process)."""
    engine: Engine = build_engine(url)
    client = TestClient(create_app(Settings(database_url=url), engine=engine))
    params = {"group_by": "severity,month", "since": "2000-01-01"}

    def endpoint() -> None:
        response = client.get("/api/metrics", params=params)
        assert response.status_code == 200, response.text

    def plain() -> None:
        with engine.connect() as connection:
            connection.execute(text(plain_query(engine.dialect.name))).all()

    endpoint_s, plain_s = best_of(endpoint), best_of(plain)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    groups = len(client.get("/api/metrics", params=params).json()["groups"])
    return {"database": engine.dialect.name, "endpoint_s": endpoint_s, "plain_s": plain_s,
            "ratio": endpoint_s / plain_s, "peak_rss_mb": peak_mb, "groups": groups}  # fmt: skip


def main() -> None:
    """Seed both databases, measure each in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--sqlite", default=DEFAULT_SQLITE)
    parser.add_argument(
        "--postgres", default=os.environ.get("INCIDENTS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--reuse", action="store_true", help="keep already seeded databases")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.stdout.write(json.dumps(measure(args.measure)) + "\n")
        return
    results = []
    for url in (args.sqlite, args.postgres):
        prepare(url, args.count, reuse=args.reuse)
        child = [sys.executable, "-m", "tests.bench.metrics", "--measure", url]
        output = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    show(results, args.count)


def show(results: list[dict[str, Any]], count: int) -> None:
    """Print the figures as a table."""
    table = Table(title=f"GET /api/metrics?group_by=severity,month at {count:,} incidents")
    for header in ("database", "endpoint", "plain aggregate", "ratio (≤ 3)", "peak RSS (≤ 500 MB)",
                   "groups"):  # fmt: skip
        table.add_column(header, justify="right")
    for row in results:
        cells = [f"{row['endpoint_s']:.2f} s", f"{row['plain_s']:.2f} s", f"{row['ratio']:.1f}"]
        table.add_row(row["database"], *cells, f"{row['peak_rss_mb']:.0f} MB", str(row["groups"]))
    Console().print(table)


if __name__ == "__main__":
    main()
