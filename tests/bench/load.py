"""Load generators of the benchmarks: ``wrk`` with ``storm.lua``, and an asyncio generator in
Python for machines without wrk.

Each sends every request a new Alertmanager alert in one of `groups` groups over
`connections` keep-alive connections for `duration` seconds, and reports how many requests
were *sent* as well as how many were answered: at the end of a wrk run some are still in
flight, and the server may store them, so the database check compares the stored alerts
with what was sent.

The Python fallback speaks HTTP/1.1 over raw asyncio streams (``Connection``) rather than
through httpx, which issue 12 named, on purpose: on this 2-core machine httpx sent ~150 req/s
at 32 connections on one client and ~450-600 with a client per connection; driving the
ingest benchmark it got 283 req/s out of the bare endpoint (wrk: 3,233) and 252 out of the
server, a "ratio" of 0.89 that measured the generator. The streams generator got 4,138 and
1,547 (0.374) in the same kind of run, so it measures the servers; the table says which
generator ran.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.payloads import alertmanager_notification

LUA = Path(__file__).with_name("storm.lua")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What a load generator measured."""

    requests: int  # answered
    per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    sent: int  # answered or still in flight when the run ended
    repeats: int = 0  # of those, how many also carried an earlier alert again


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
        sent=sum(load.sent for load in loads),
        repeats=sum(load.repeats for load in loads),
    )


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of `values` (seconds) in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


def wrk(base: str, *, duration: int, connections: int, groups: int, token: str,
        repeat: bool = False) -> Load:  # fmt: skip
    """Drive `base` with wrk and the storm script; parse its report."""
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_GROUPS": str(groups),
           "BENCH_REPEAT": "1" if repeat else "0",
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
        sent=int(_find(r"^sent (\d+)$", report)),
        repeats=int(_find(r"^repeats (\d+)$", report)),
    )  # fmt: skip


def _find(pattern: str, report: str, default: str | None = None) -> str:
    """Return the first group of `pattern` in the report."""
    match = re.search(pattern, report, re.M)
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


class Connection:
    """A keep-alive HTTP/1.1 connection on raw asyncio streams.

    Hand-written on purpose: httpx spends more CPU per request than the server under test
    on this 2-core machine, so the generator, not the server, would set the pace.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Send one POST and return (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        """Close the socket."""
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def python_load(base: str, *, duration: float, connections: int, groups: int,
                token: str, repeat: bool = False) -> Load:  # fmt: skip
    """Drive `base` from Python over asyncio streams: the wrk script's requests."""
    return asyncio.run(_python_load(base, duration, connections, groups, token, repeat))


async def _python_load(base: str, duration: float, connections: int, groups: int,
                       token: str, repeat: bool) -> Load:  # fmt: skip
    """Run `connections` senders until the deadline; each waits for its last answer."""
    host, port = base.removeprefix("http://").split(":")
    run, sequence = uuid.uuid4().hex[:8], iter(range(1, 1 << 62))
    latencies: list[float] = []
    statuses: list[int] = []
    errors = repeats = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def sender(deadline: float) -> None:
        nonlocal errors, repeats
        connection = Connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                number = next(sequence)
                earlier = (f"r{run}-p-{number - groups}",) if repeat and number > groups else ()
                repeats += len(earlier)
                body = alertmanager_notification(
                    alertname="Storm", group=f"g{number % groups}", summary="bench",
                    fingerprint=f"r{run}-p-{number}", earlier=earlier)  # fmt: skip
                start = time.perf_counter()
                try:
                    status, _ = await connection.post("/webhooks/alertmanager", body, headers)
                except (OSError, asyncio.IncompleteReadError):
                    errors += 1
                    return  # a broken connection: this sender stops, the others go on
                latencies.append(time.perf_counter() - start)
                statuses.append(status)
        finally:
            await connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(sender(start + duration) for _ in range(connections)))
    seconds = time.perf_counter() - start
    return Load(
        requests=len(statuses),
        per_second=len(statuses) / seconds,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        non_2xx=sum(not 200 <= status < 300 for status in statuses),
        socket_errors=errors,
        sent=len(statuses) + errors,  # a failed request may have reached the server
        repeats=repeats,
    )
