"""A real `incidents worker` process is killed while Slack is answering its post; after the
lease runs out a new worker delivers the message exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlmodel import Session, select

from incidents.slack import notifier
from incidents.store import outbox as store
from incidents.store.models import OutboxMessage
from tests.fake_slack import TOKEN, fake_slack


def worker_env(database_url: str, slack_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTS_")}
    env.update(INCIDENTS_DATABASE_URL=database_url, INCIDENTS_SLACK_API_URL=slack_url,
               INCIDENTS_SLACK_BOT_TOKEN=TOKEN, INCIDENTS_OUTBOX_LEASE="2",
               INCIDENTS_OUTBOX_POLL_INTERVAL="0.1")  # fmt: skip
    return env


def wait_for(check, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def state(engine) -> str:
    with Session(engine) as session:
        return session.exec(select(OutboxMessage)).one().state


def test_killed_worker_then_restart_delivers_exactly_once(engine, database_url, tmp_path):
    with fake_slack() as (url, workspace):
        with Session(engine) as session:
            store.add_message(session, topic=notifier.POST_MESSAGE, key="announce:1",
                              payload={"channel": "C0ANNOUNCE", "text": "INC-1 declared"},
                              now=datetime.now(UTC))  # fmt: skip
            session.commit()
        workspace.stall["chat.postMessage"] = 30  # Slack takes the post, then hangs
        env = worker_env(database_url, url)
        log = (tmp_path / "worker.log").open("w")
        doomed = subprocess.Popen([sys.executable, "-m", "incidents", "worker"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_for(lambda: workspace.count("chat.postMessage") == 1, "the post to reach Slack")
            assert state(engine) == "delivering"
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
            log.close()
        workspace.stall.clear()
        workspace.released.set()
        time.sleep(2.2)  # the dead worker's lease runs out
        again = subprocess.run([sys.executable, "-m", "incidents", "worker", "--once"], env=env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
        assert again.returncode == 0, again.stdout + again.stderr
        assert "delivered 1 message" in again.stdout
        assert len(workspace.messages["C0ANNOUNCE"]) == 1, "exactly once at Slack"
        assert workspace.count("conversations.history") == 1, "it checked before posting again"
        assert state(engine) == "done"
