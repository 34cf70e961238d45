"""Ingest benchmark (issue 12): the real server against the physical limit of the HTTP stack.

In one run it starts a bare Starlette endpoint that reads the body and answers 202
(``tests/bench/bare.py``) and the real ``incidents serve``, drives both in turns with the same load
(``wrk`` with ``storm.lua``: every request a new Alertmanager alert in one of 50 groups,
32 connections), prints throughput, p50/p99 latency, non-2xx and the **ratio** for SQLite in
one process and PostgreSQL with two worker processes, then checks the database holds every
accepted alert once and one open incident per group.

    python -m tests.bench.ingest [--duration 15] [--rounds 3] [--connections 32] [--postgres URL]

PostgreSQL runs when ``--postgres`` or ``INCIDENTS_TEST_POSTGRES_URL`` names a server (a
scratch database is created and dropped). Needs ``wrk`` (Debian package ``wrk``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("storm.lua")
TOKEN = "bench-webhook-token"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What wrk measured."""

    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def wrk(base: str, *, duration: int, connections: int, groups: int) -> Load:
    """Drive `base` with wrk and the storm script; parse its report."""
    env = {**os.environ, "BENCH_TOKEN": TOKEN, "BENCH_GROUPS": str(groups),
           "BENCH_RUN": uuid.uuid4().hex[:8]}  # every run's alerts new  # fmt: skip
    report = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(LUA), base],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return Load(
        requests=int(_find(r"(\d+) requests in", report)),
        per_second=float(_find(r"Requests/sec:\s+([\d.]+)", report)),
        p50_ms=_latency(report, "50%"),
        p99_ms=_latency(report, "99%"),
        non_2xx=int(_find(r"Non-2xx or 3xx responses: (\d+)", report, "0")),
        socket_errors=sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)",
                                                         report)),
    )  # fmt: skip


def _find(pattern: str, report: str, default: str | None = None) -> str:
    """Return the first group of `pattern` in the report."""
    match = re.search(pattern, report)
    if match:
        return match.group(1)
    if default is None:
        raise RuntimeError(f"wrk report without {pattern!r}:\n{report}")
    return default


def _latency(report: str, percentile: str) -> float:
    """Return a latency percentile in milliseconds."""
    match = re.search(rf"^\s*{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\b", report, re.M)
    if not match:
        raise RuntimeError(f"wrk report without the {percentile} latency:\n{report}")
    return float(match.group(1)) * UNITS[match.group(2)]


@contextmanager
def process(
    command: list[str], *, env: dict[str, str], health: str, log: Path
) -> Iterator[tuple[str, int]]:
    """Start a server process on a free port; yield its base URL and pid once every worker
    listens; stop it."""
    port = free_port()
    full = [part.replace("{port}", str(port)) for part in command]
    workers = int(full[full.index("--workers") + 1]) if "--workers" in full else 1
    with log.open("w") as sink:
        child = subprocess.Popen(full, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base + health, child, log)
            _wait_for_listeners(port, workers, child, log)
            yield base, child.pid
        finally:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the server answers (or fail with its log)."""
    for _ in range(300):
        if child.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        subprocess.run(["sleep", "0.1"], check=True)
    raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")


def _wait_for_listeners(port: int, workers: int, child: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until each worker listens on the port (Linux: each has a socket of its own).

    Why: the health check passes once one worker serves. Keep-alive connections opened
    while the other was still importing all went to the first and stayed there: the storm
    ran on one worker, and its first second queued behind that worker (p99 300 ms).
    """
    if workers < 2 or not Path("/proc/net/tcp").exists():
        return
    listening = 0
    for _ in range(600):
        listening = _listening(port)
        if listening >= workers:
            return
        if child.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        subprocess.run(["sleep", "0.1"], check=True)
    raise RuntimeError(f"only {listening} of {workers} workers listen:\n{log.read_text()[-3000:]}")


def _listening(port: int) -> int:
    """Count the sockets in LISTEN state (``0A``) on `port`, from the kernel's tables."""
    wanted = f":{port:04X}"
    count = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:] if table.exists() else []:
            fields = line.split()
            count += fields[1].endswith(wanted) and fields[3] == "0A"
    return count


def measure(database_url: str, workers: int, *, tmp: Path, duration: int, rounds: int,
            connections: int, groups: int) -> tuple[Load, Load]:  # fmt: skip
    """Measure `incidents serve` on a fresh database and the bare endpoint, in turns.

    Both servers stay up and wrk drives them alternately, `rounds` times each for
    `duration / rounds` seconds: this machine's speed drifts by a fifth within a minute,
    and measuring one after the other moved the ratio with it.
    """
    bare_command = [sys.executable, "-m", "tests.bench.bare", "--port", "{port}",
                    "--workers", str(workers)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTS_")}
    env |= {"INCIDENTS_DATABASE_URL": database_url, "INCIDENTS_WEBHOOK_TOKEN": TOKEN,
            "INCIDENTS_API_TOKEN": "bench-api-token", "INCIDENTS_LOG_LEVEL": "WARNING",
            "INCIDENTS_RUNBOOKS_DIR": str(tmp / "no-runbooks")}  # fmt: skip
    command = [sys.executable, "-m", "incidents", "serve", "--host", "127.0.0.1",
               "--port", "{port}", "--workers", str(workers)]  # fmt: skip
    share = max(1, duration // rounds)
    limits: list[Load] = []
    loads: list[Load] = []
    with (
        process(bare_command, env=dict(os.environ), health="/docs-none",
                log=tmp / "bare.log") as (bare_base, _),
        process(command, env=env, health="/healthz", log=tmp / "serve.log") as (base, _),
    ):  # fmt: skip
        for _ in range(rounds):
            limits.append(wrk(bare_base, duration=share, connections=connections, groups=groups))
            loads.append(wrk(base, duration=share, connections=connections, groups=groups))
    return combined(loads), combined(limits)


def combined(loads: list[Load]) -> Load:
    """Add up rounds: mean throughput, median p50, the worst round's p99, every error."""
    p50s = sorted(load.p50_ms for load in loads)
    return Load(
        requests=sum(load.requests for load in loads),
        per_second=sum(load.per_second for load in loads) / len(loads),
        p50_ms=p50s[len(p50s) // 2],
        p99_ms=max(load.p99_ms for load in loads),
        non_2xx=sum(load.non_2xx for load in loads),
        socket_errors=sum(load.socket_errors for load in loads),
    )


def stored(database_url: str) -> tuple[int, int, int]:
    """Return (alerts stored, distinct fingerprints, open incidents)."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        alerts = connection.execute(text("select count(*) from alerts")).scalar_one()
        distinct = connection.execute(
            text("select count(distinct fingerprint) from alerts")
        ).scalar_one()
        open_ = connection.execute(
            text("select count(*) from incidents where status != 'resolved'")
        ).scalar_one()
    engine.dispose()
    return int(alerts), int(distinct), int(open_)


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """Create a scratch database on the server; drop it afterwards."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server_url).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def row(name: str, load: Load, limit: Load, check: tuple[int, int, int], groups: int) -> str:
    """Format one result line."""
    alerts, distinct, open_ = check
    accepted = load.requests - load.non_2xx
    ok = alerts == distinct and open_ == groups and accepted <= alerts
    verdict = "OK" if ok else "MISMATCH"
    return (f"{name:<22} {load.per_second:>9.0f} {limit.per_second:>9.0f} "
            f"{load.per_second / limit.per_second:>6.3f} {load.p50_ms:>8.1f} {load.p99_ms:>8.1f} "
            f"{load.non_2xx:>6} {accepted:>8} {alerts:>8} {open_:>5}  {verdict}")  # fmt: skip


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("INCIDENTS_TEST_POSTGRES_URL"))
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    load = {"duration": options.duration, "rounds": options.rounds,
            "connections": options.connections, "groups": options.groups}  # fmt: skip
    say = Console(highlight=False, width=160).print
    say(f"{'setup':<22} {'req/s':>9} {'bare/s':>9} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'non2xx':>6} {'accepted':>8} {'stored':>8} {'open':>5}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="incidents-bench-") as folder:
        tmp = Path(folder)
        url = f"sqlite:///{tmp / 'bench.db'}"
        measured, limit = measure(url, 1, tmp=tmp, **load)
        say(row("SQLite, 1 process", measured, limit, stored(url), options.groups))
        if options.postgres:
            with scratch_postgres(options.postgres) as pg_url:
                measured, limit = measure(pg_url, 2, tmp=tmp, **load)
                say(row("PostgreSQL, 2 workers", measured, limit, stored(pg_url),
                        options.groups))  # fmt: skip


if __name__ == "__main__":
    main()
