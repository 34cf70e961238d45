"""Alert-storm benchmark (issue 12): 50,000 notifications in 500 groups, 20% of them exact
redeliveries, over 64 connections to ``incidents serve --workers 2`` on PostgreSQL, while a
signed Slack ``/incident list`` arrives every 100 ms (Slack's Web API is the loopback fake
the tests use, so the outbox delivers each new incident's announcement meanwhile).

It prints throughput, webhook latency, the Slack acknowledgement latency, each server
process's peak RSS, and checks the database: exactly one incident per group, every alert
once, and no non-2xx answer. It exits with status 1 when a figure misses its target.

    python -m tests.bench.storm [--notifications 50000] [--groups 500] [--connections 64]
                                [--postgres URL]

PostgreSQL is the server ``--postgres`` names, else ``INCIDENTS_TEST_POSTGRES_URL``'s, else the
local one (a scratch database is created on it and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table
from slack_sdk.signature import SignatureVerifier

from tests.bench.ingest import postgres_server, process, scratch_postgres, stored
from tests.bench.load import Connection, percentile
from tests.fake_slack import TOKEN as SLACK_TOKEN
from tests.fake_slack import fake_slack
from tests.payloads import alertmanager_notification

TOKEN = "storm-webhook-token"
SIGNING = "storm-slack-signing-secret"
SLACK_EVERY = 0.1  # seconds between Slack commands
TARGETS = {"slack_p99_ms": 300.0, "rss_mb": 300.0}


def notification(group: int, number: int) -> bytes:
    """Return an Alertmanager notification carrying one new alert of `group`."""
    return alertmanager_notification(alertname="Storm", group=f"g{group}",
                                     fingerprint=f"storm-{number}", summary="storm")  # fmt: skip


def workload(total: int, groups: int, seed: int = 12) -> tuple[list[bytes], int]:
    """Return the bodies to send (every fifth an exact repeat of an earlier one) and how
    many are new."""
    rng = random.Random(seed)
    bodies: list[bytes] = []
    fresh: list[bytes] = []
    for index in range(total):
        if index % 5 == 4:
            bodies.append(rng.choice(fresh))
        else:
            fresh.append(notification(len(fresh) % groups, len(fresh)))
            bodies.append(fresh[-1])
    return bodies, len(fresh)


@dataclass
class Tally:
    """What the load generator saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    duplicates: int = 0

    def count(self, status: int, body: bytes, seconds: float) -> None:
        """Record one answer."""
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.duplicates += b'"duplicate":true' in body


async def storm(host: str, port: int, bodies: list[bytes], connections: int) -> Tally:
    """Send every body over `connections` keep-alive connections."""
    tally = Tally()
    queue = iter(bodies)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    async def sender() -> None:
        connection = Connection(host, port)
        try:
            for body in queue:
                start = time.perf_counter()
                status, answer = await connection.post("/webhooks/alertmanager", body, headers)
                tally.count(status, answer, time.perf_counter() - start)
        finally:
            await connection.close()

    await asyncio.gather(*(sender() for _ in range(connections)))
    return tally


async def slack_commands(host: str, port: int, done: asyncio.Event) -> Tally:
    """Send a signed ``/incident list`` every 100 ms until the storm is over."""
    tally = Tally()
    verifier = SignatureVerifier(SIGNING)
    connection = Connection(host, port)
    try:
        while not done.is_set():
            body = urlencode({"command": "/incident", "text": "list", "user_id": "U0STORM",
                              "channel_id": "C0STORM", "team_id": "T1", "trigger_id": "1.2.3",
                              "response_url": "http://127.0.0.1:9/"})  # fmt: skip
            stamp = str(int(time.time()))
            headers = {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Slack-Request-Timestamp": stamp,
                       "X-Slack-Signature": str(verifier.generate_signature(
                           timestamp=stamp, body=body))}  # fmt: skip
            start = time.perf_counter()
            status, answer = await connection.post("/slack/events", body.encode(), headers)
            tally.count(status, answer, time.perf_counter() - start)
            await asyncio.sleep(SLACK_EVERY)
    finally:
        await connection.close()
    return tally


async def run_load(base: str, bodies: list[bytes], connections: int) -> tuple[Tally, Tally, float]:
    """Run the storm and the Slack commands together; return both tallies and the seconds."""
    host, port = base.removeprefix("http://").split(":")
    done = asyncio.Event()
    slack = asyncio.create_task(slack_commands(host, int(port), done))
    start = time.perf_counter()
    hooks = await storm(host, int(port), bodies, connections)
    seconds = time.perf_counter() - start
    done.set()
    return hooks, await slack, seconds


def peak_rss_mb(root_pid: int) -> dict[int, float]:
    """Return the peak RSS (VmHWM) of a process and its children, in MB."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, parent = int(entry.name), int(fields.get("PPid", "0"))
        if (pid == root_pid or parent == root_pid) and "VmHWM" in fields:
            found[pid] = int(fields["VmHWM"].split()[0]) / 1024
    return found


def main() -> None:
    """Run the storm and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--postgres", default=postgres_server())
    options = parser.parse_args()
    bodies, fresh = workload(options.notifications, options.groups)
    with (tempfile.TemporaryDirectory() as folder, scratch_postgres(options.postgres) as url,
          fake_slack() as (slack_url, _)):  # fmt: skip
        tmp = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTS_")}
        env |= {"INCIDENTS_DATABASE_URL": url, "INCIDENTS_WEBHOOK_TOKEN": TOKEN,
                "INCIDENTS_API_TOKEN": "storm-api-token", "INCIDENTS_LOG_LEVEL": "WARNING",
                "INCIDENTS_SLACK_SIGNING_SECRET": SIGNING, "INCIDENTS_SLACK_BOT_TOKEN": SLACK_TOKEN,
                "INCIDENTS_SLACK_API_URL": slack_url, "INCIDENTS_UPDATE_CADENCE": "off",
                "INCIDENTS_RUNBOOKS_DIR": str(tmp / "no-runbooks"),
                "INCIDENTS_PIN_CPU": os.environ.get("BENCH_PIN_CPU", "true")}  # fmt: skip
        command = [sys.executable, "-m", "incidents", "serve", "--host", "127.0.0.1",
                   "--port", "{port}", "--workers", "2"]  # fmt: skip
        with process(command, env=env, health="/healthz", log=tmp / "serve.log") as (base, pid):
            hooks, slack, seconds = asyncio.run(run_load(base, bodies, options.connections))
            rss = peak_rss_mb(pid)
        alerts, distinct, open_, _ = stored(url)
    if not report(options, hooks=hooks, slack=slack, seconds=seconds, rss=rss,
                  check=(alerts, distinct, open_), fresh=fresh):  # fmt: skip
        sys.exit(1)


def report(options: argparse.Namespace, *, hooks: Tally, slack: Tally, seconds: float,
           rss: dict[int, float], check: tuple[int, int, int], fresh: int) -> bool:  # fmt: skip
    """Print the figures against their targets; return whether all are met."""
    alerts, distinct, open_ = check
    non_2xx = sum(n for status, n in hooks.statuses.items() if not 200 <= status < 300)
    slack_bad = sum(n for status, n in slack.statuses.items() if status != 200)
    rows = [
        ("notifications sent", f"{len(hooks.latencies):,}", f"{options.notifications:,}",
         len(hooks.latencies) == options.notifications),
        ("throughput (req/s)", f"{len(hooks.latencies) / seconds:,.0f}", "—", True),
        ("webhook p50 / p99 (ms)",
         f"{percentile(hooks.latencies, 0.5):.0f} / {percentile(hooks.latencies, 0.99):.0f}",
         "p99 ≤ 100", percentile(hooks.latencies, 0.99) <= 100),
        ("non-2xx answers", str(non_2xx), "0", non_2xx == 0),
        ("answered as duplicates", f"{hooks.duplicates:,}",
         f"{options.notifications - fresh:,}", hooks.duplicates == options.notifications - fresh),
        ("alerts stored / distinct", f"{alerts:,} / {distinct:,}", f"{fresh:,} / {fresh:,}",
         alerts == distinct == fresh),
        ("open incidents", str(open_), str(options.groups), open_ == options.groups),
        ("Slack commands (non-200)", f"{len(slack.latencies)} ({slack_bad})", "0 failed",
         slack_bad == 0 and bool(slack.latencies)),
        ("Slack ack p50 / p99 / max (ms)",
         f"{percentile(slack.latencies, 0.5):.0f} / {percentile(slack.latencies, 0.99):.0f} / "
         f"{max(slack.latencies, default=0) * 1000:.0f}",
         "p99 ≤ 300", percentile(slack.latencies, 0.99) <= TARGETS["slack_p99_ms"]),
        ("peak RSS per process (MB)", ", ".join(f"{mb:.0f}" for mb in sorted(rss.values())),
         "≤ 300", bool(rss) and max(rss.values()) <= TARGETS["rss_mb"]),
    ]  # fmt: skip
    table = Table(title=f"storm: {options.notifications:,} notifications, {options.groups} "
                        f"groups, {options.connections} connections, PostgreSQL, 2 workers, "
                        f"{seconds:.0f} s")  # fmt: skip
    for column in ("figure", "measured", "target", "met"):
        table.add_column(column)
    for name, measured, target, met in rows:
        table.add_row(name, measured, target, "yes" if met else "NO")
    Console().print(table)
    return all(met for *_, met in rows)


if __name__ == "__main__":
    main()
