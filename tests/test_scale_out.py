"""Scale-out (issue 13), PostgreSQL only: one `incidents serve --workers 3` (each process with
its own outbox thread) and two `incidents worker` processes, under concurrent webhooks and
signed Slack commands for the same incidents. One incident per group, the first
acknowledgement wins, and Slack and PagerDuty each hear about every incident exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text

from tests.fake_pagerduty import ROUTING_KEY, fake_pagerduty
from tests.fake_slack import TOKEN as SLACK_TOKEN
from tests.fake_slack import fake_slack
from tests.payloads import alertmanager_notification
from tests.servers import free_port, server_env, wait_for_http

pytestmark = pytest.mark.skipif(
    not os.environ.get("INCIDENTS_TEST_POSTGRES_URL"),
    reason="scale-out needs PostgreSQL (set INCIDENTS_TEST_POSTGRES_URL)",
)
GROUPS = 5
WEBHOOK_TOKEN = "scale-webhook-token"
API_TOKEN = "scale-api-token"
SIGNING = "scale-slack-signing-secret"
HOOK = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}


def delivery(group: int, number: int) -> bytes:
    """Return an Alertmanager delivery: a critical alert of `group` (repeats are redeliveries)."""
    return alertmanager_notification(alertname="Scale", group=f"g{group}",
                                     fingerprint=f"g{group}-a{number % 3}", severity="critical",
                                     summary=f"group {group} is down")  # fmt: skip


def slack_command(base: str, text_: str, user: str) -> int:
    """Send one signed /incident command; return the HTTP status."""
    body = urlencode({"command": "/incident", "text": text_, "user_id": user,
                      "channel_id": "C0RANDOM", "team_id": "T1", "trigger_id": "1.2.3",
                      "response_url": "http://127.0.0.1:9/"})  # fmt: skip
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING).generate_signature(timestamp=stamp, body=body)
    answer = httpx.post(f"{base}/slack/events", content=body.encode(), timeout=10, headers={
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp, "x-slack-signature": str(signature)})  # fmt: skip
    return answer.status_code


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start an `incidents` process writing to `log`."""
    with log.open("w") as sink:
        return subprocess.Popen([sys.executable, "-m", "incidents", *args], env=env,
                                cwd=log.parent, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process politely, then firmly."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_three_servers_and_two_workers_agree(database_url, engine, tmp_path):
    with fake_slack() as (slack_url, workspace), fake_pagerduty() as (pd_url, ca, pagerduty):
        env = server_env(database_url, webhook_token=WEBHOOK_TOKEN, api_token=API_TOKEN,
                         slack_bot_token=SLACK_TOKEN, slack_api_url=slack_url,
                         slack_signing_secret=SIGNING, update_cadence="off",
                         pagerduty_routing_key=ROUTING_KEY, pagerduty_events_url=pd_url,
                         pagerduty_ca_bundle=str(ca), outbox_poll_interval="0.2")  # fmt: skip
        port = free_port()
        server = spawn(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "3"],
                       env, tmp_path / "serve.log")  # fmt: skip
        workers = [spawn(["worker"], env, tmp_path / f"worker-{n}.log") for n in range(2)]
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/healthz", server, tmp_path / "serve.log", timeout=60)
            statuses: list[int] = []

            def send(sender: int) -> None:
                with httpx.Client(base_url=base, timeout=15) as client:
                    for number in range(12):
                        group = (sender + number) % GROUPS
                        answer = client.post("/webhooks/alertmanager", headers=HOOK,
                                             content=delivery(group, number))  # fmt: skip
                        statuses.append(answer.status_code)

            threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)

            def ack(incident: int, user: str) -> None:
                statuses.append(slack_command(base, f"ack #{incident}", user))

            with engine.connect() as connection:  # ids may skip: a retried insert burns one
                ids = list(connection.execute(text("SELECT id FROM incidents")).scalars())
            pairs = [(n, user) for n in ids for user in ("U0ALICE", "U0BOB")]
            acks = [threading.Thread(target=ack, args=pair) for pair in pairs]
            for thread in acks:
                thread.start()
            for thread in acks:
                thread.join(timeout=60)
            _wait_for_outbox(engine)
        finally:
            for process in [server, *workers]:
                stop(process)

        assert Counter(statuses) == Counter({202: 96, 200: 2 * GROUPS}), Counter(statuses)
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT id, status, acknowledged_by, slack_channel FROM incidents ORDER BY id"
            )).all()  # fmt: skip
            acked = connection.execute(text(
                "SELECT incident_id, count(*) FROM timeline WHERE kind = 'acknowledged'"
                " GROUP BY incident_id")).all()  # fmt: skip
        assert len(rows) == GROUPS, "one incident per group"
        assert sorted(acked) == [(r.id, 1) for r in rows], "first stamp wins, once"
        assert all(r.status == "acknowledged" and r.acknowledged_by in ("U0ALICE", "U0BOB")
                   for r in rows)  # fmt: skip
        channels = [name for name in workspace.channels.values() if name.startswith("inc-")]
        per_incident = Counter(name.split("-")[1] for name in channels)
        assert per_incident == Counter({str(r.id): 1 for r in rows}), channels
        cards = Counter(m["text"].split(" ")[0] for ch in workspace.messages.values()
                        for m in ch if " SEV1 " in (m.get("text") or ""))  # fmt: skip
        assert all(count == 1 for count in cards.values()) and len(cards) == GROUPS, cards
        events = Counter((e.body["dedup_key"], e.body["event_action"])
                         for e in pagerduty.accepted())  # fmt: skip
        triggers = {key for key, action in events if action == "trigger"}
        assert len(triggers) == GROUPS and all(n == 1 for n in events.values()), events


def _wait_for_outbox(engine, timeout: float = 60) -> None:
    """Wait until no outbox message is pending or being delivered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.execute(text(
                "SELECT count(*) FROM outbox WHERE state IN ('pending', 'delivering')"
            )).scalar_one()  # fmt: skip
        if waiting == 0:
            return
        time.sleep(0.3)
    pytest.fail("the outbox did not drain")
