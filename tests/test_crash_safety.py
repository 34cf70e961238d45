"""Crash safety (issue 13): kill -9 the server in the middle of an alert storm; every alert
it acknowledged (202) is in the database afterwards, nothing is half-written, and the
restarted server carries on. And kill -9 it while its outbox is delivering to Slack: after
the restart every message reaches Slack exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import text

from incidents.store.db import build_engine
from tests.fake_slack import TOKEN as SLACK_TOKEN
from tests.fake_slack import fake_slack
from tests.payloads import alertmanager_notification
from tests.servers import free_port, server_env, wait_for_http

TOKEN = "crash-test-webhook-token"
SENDERS = 4
GROUPS = 10


def alert(sender: int, number: int) -> bytes:
    """Return one Alertmanager delivery with a fresh alert in one of the groups."""
    group = (sender * 1000 + number) % GROUPS
    return alertmanager_notification(alertname="Crash", group=f"g{group}",
                                     fingerprint=f"s{sender}-{number}")  # fmt: skip


def start(tmp_path: Path, url: str, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """Start `incidents serve` on the database; wait until it answers."""
    env = server_env(url, webhook_token=TOKEN, api_token="crash-test-api-token", **settings)
    log = tmp_path / f"serve-{port}.log"
    with log.open("w") as sink:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "incidents", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process, log)
    return process


def storm(base: str, stop: threading.Event, acked: list[str]) -> list[threading.Thread]:
    """Start senders that post alerts until `stop`, recording what the server accepted."""

    def send(sender: int) -> None:
        with httpx.Client(base_url=base, timeout=5) as client:
            number = 0
            while not stop.is_set():
                number += 1
                try:
                    answer = client.post("/webhooks/alertmanager", content=alert(sender, number),
                                         headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Content-Type": "application/json"})  # fmt: skip
                except httpx.TransportError:
                    return  # the server is gone
                if answer.status_code == 202:
                    acked.append(f"s{sender}-{number}")

    threads = [threading.Thread(target=send, args=(s,), daemon=True) for s in range(SENDERS)]
    for thread in threads:
        thread.start()
    return threads


def test_kill_9_during_a_storm_loses_no_acknowledged_alert(tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    port = free_port()
    server = start(tmp_path, url, port)
    acked: list[str] = []
    stop = threading.Event()
    threads = storm(f"http://127.0.0.1:{port}", stop, acked)
    try:
        deadline = time.monotonic() + 20
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        if server.poll() is None:
            server.kill()
    assert len(acked) >= 60, "the storm never got going"

    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            stored = set(connection.execute(text("SELECT fingerprint FROM alerts")).scalars())
            orphans = connection.execute(text(
                "SELECT count(*) FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id"
                " WHERE i.id IS NULL")).scalar_one()  # fmt: skip
            unopened = connection.execute(text(
                "SELECT count(*) FROM incidents i WHERE NOT EXISTS (SELECT 1 FROM timeline t"
                " WHERE t.incident_id = i.id AND t.kind = 'opened')")).scalar_one()  # fmt: skip
            groups = connection.execute(text(
                "SELECT count(*), count(DISTINCT group_key) FROM incidents"
                " WHERE status != 'resolved'")).one()  # fmt: skip
    finally:
        engine.dispose()
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged alerts were lost"
    assert orphans == 0 and unopened == 0, "nothing half-written"
    assert groups[0] == groups[1] <= GROUPS, "one open incident per group"

    restarted = start(tmp_path, url, free_port())
    try:
        assert restarted.poll() is None
    finally:
        restarted.send_signal(signal.SIGINT)
        restarted.wait(timeout=15)


def outbox_states(url: str) -> list[str]:
    """Return the state of every outbox message."""
    engine = build_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT state FROM outbox")).scalars())
    finally:
        engine.dispose()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll `check` until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_during_outbox_delivery_then_every_message_reaches_slack_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    with fake_slack() as (slack_url, workspace):
        slack = {"slack_bot_token": SLACK_TOKEN, "slack_api_url": slack_url,
                 "slack_channel": "C0ANNOUNCE", "update_cadence": "off",
                 "outbox_lease": "2", "outbox_poll_interval": "0.1"}  # fmt: skip
        workspace.stall["chat.postMessage"] = 30  # Slack takes the post, then hangs
        port = free_port()
        server = start(tmp_path, url, port, **slack)
        base = f"http://127.0.0.1:{port}"
        try:
            for group in range(3):  # three SEV2 groups: three incidents, each announced
                critical = alert(0, group).replace(b'"warning"', b'"error"')
                answer = httpx.post(
                    f"{base}/webhooks/alertmanager",
                    content=critical,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=10,
                )
                assert answer.status_code == 202, answer.text
            wait_until(lambda: workspace.count("chat.postMessage") >= 1, "a post to reach Slack")
            assert "delivering" in outbox_states(url), "killed in the middle of a delivery"
        finally:
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        workspace.stall.clear()
        workspace.released.set()
        time.sleep(2.2)  # the dead server's lease runs out
        restarted = start(tmp_path, url, free_port(), **slack)
        try:
            wait_until(lambda: set(outbox_states(url)) == {"done"}, "the outbox to drain")
        finally:
            restarted.send_signal(signal.SIGINT)
            restarted.wait(timeout=15)
    posted = [message for channel in workspace.messages.values() for message in channel]
    keys = [message["metadata"]["event_payload"]["key"] for message in posted]
    assert len(keys) == len(set(keys)), f"a message reached Slack twice: {keys}"
    assert len(workspace.messages["C0ANNOUNCE"]) == 3, "every announcement, once"
    assert workspace.count("conversations.history") >= 1, "the redelivery looked before posting"
