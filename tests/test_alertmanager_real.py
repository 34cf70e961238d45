"""A real prometheus-alertmanager sends to a running `incidents serve` on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.readme import snippet
from tests.servers import free_port, running_server, server_env, wait_for_http

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
WEBHOOK_TOKEN = "am-e2e-webhook-token"
PLACEHOLDER = "REPLACE_WITH_INCIDENTS_WEBHOOK_TOKEN"
API_TOKEN = "am-e2e-api-token"
API = {"Authorization": f"Bearer {API_TOKEN}"}

MISSING = "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
# In CI (.ci/run installs the binary) a missing binary is a failure, never a silent skip.
pytestmark = pytest.mark.skipif(BINARY is None and not os.environ.get("CI"), reason=MISSING)


def config_from_readme(target: str) -> str:
    """Return the README's Alertmanager snippet as pasted, with test-speed timings."""
    config = yaml.safe_load(snippet("alertmanager.yml").replace(PLACEHOLDER, WEBHOOK_TOKEN))
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = hook["url"].replace("http://127.0.0.1:8000", target)
    return str(yaml.safe_dump(config))


@contextmanager
def running_alertmanager(tmp_path: Path, target: str) -> Iterator[str]:
    """Start Alertmanager on a free loopback port, clustering off; stop it afterwards."""
    assert BINARY is not None, MISSING
    config = tmp_path / "alertmanager.yml"
    config.write_text(config_from_readme(target))
    port = free_port()
    log_path = tmp_path / "alertmanager.log"
    command = [
        BINARY,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/-/ready", process, log_path)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def push(am: str, alerts: list[dict[str, Any]]) -> None:
    """Post alerts into Alertmanager's own API."""
    assert httpx.post(f"{am}/api/v2/alerts", json=alerts, timeout=5).status_code == 200


def am_alert(instance: str, starts: datetime, ends: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": "HighErrorRate", "service": "checkout",
                   "severity": "critical", "instance": instance},
        "annotations": {"summary": "Checkout 5xx ratio above 5%"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    if ends is not None:
        body["endsAt"] = ends.isoformat().replace("+00:00", "Z")
    return body


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_alertmanager_opens_resolves_and_reopens(tmp_path, database_url):
    env = server_env(database_url, webhook_token=WEBHOOK_TOKEN, api_token=API_TOKEN)
    with running_server(tmp_path, env) as server, running_alertmanager(tmp_path, server) as am:
        now = datetime.now(UTC).replace(microsecond=0)
        start = now - timedelta(minutes=2)

        def incident() -> dict[str, Any] | None:
            items = httpx.get(f"{server}/api/incidents", headers=API).json()["items"]
            if not items:
                return None
            detail: dict[str, Any] = httpx.get(
                f"{server}/api/incidents/{items[0]['id']}", headers=API
            ).json()
            return detail

        push(am, [am_alert("checkout-a:8080", start), am_alert("checkout-b:8080", start)])
        opened = eventually(lambda: (i := incident()) and len(i["alerts"]) == 2 and i, "2 alerts")
        assert opened["detected_at"] == start.isoformat().replace("+00:00", "Z")
        assert opened["severity"] == "SEV1" and opened["source"] == "alertmanager"

        end_a, end_b = now - timedelta(seconds=40), now - timedelta(seconds=20)
        push(
            am,
            [am_alert("checkout-a:8080", start, end_a), am_alert("checkout-b:8080", start, end_b)],
        )
        resolved = eventually(
            lambda: (i := incident()) and i["status"] == "resolved" and i, "resolve"
        )
        assert resolved["resolved_at"] == end_b.isoformat().replace("+00:00", "Z")
        assert resolved["mitigated_at"] == resolved["resolved_at"]

        push(am, [am_alert("checkout-c:8080", datetime.now(UTC).replace(microsecond=0))])
        reopened = eventually(
            lambda: (
                (i := incident()) and i["status"] == "triggered" and len(i["alerts"]) == 3 and i
            ),
            "reopen",
        )
        assert reopened["id"] == opened["id"]
        kinds = [e["kind"] for e in httpx.get(f"{server}/api/incidents/{opened['id']}/timeline",
                                              headers=API).json()]  # fmt: skip
        assert "reopened" in kinds and "auto_resolved" in kinds
