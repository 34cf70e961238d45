"""`incidents serve` as a user starts it: migrates, answers, keeps data across a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

TOKEN = "serve-test-token-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTS_")}
    env["INCIDENTS_API_TOKEN"] = TOKEN
    if database_url:
        env["INCIDENTS_DATABASE_URL"] = database_url
    return env


@contextmanager
def running_server(cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """Start `incidents serve` on a free loopback port; stop it afterwards."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "incidents",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = (cwd / f"serve-{port}.log").open("w")
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, cwd / f"serve-{port}.log")
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"server did not answer within 30 s:\n{log.read_text()}")


def test_serve_migrates_answers_and_keeps_data_across_restart(tmp_path, database_url):
    on_postgres = database_url.startswith("postgresql")
    env = server_env(database_url if on_postgres else None)  # SQLite: the default file
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if not on_postgres:
        Path(database_url.removeprefix("sqlite:///")).unlink()  # start truly empty
    with running_server(tmp_path, env) as base:
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/api/incidents").status_code == 401
        created = httpx.post(
            f"{base}/api/incidents", json={"title": "Search latency"}, headers=auth
        )
        assert created.status_code == 201
        key = created.json()["key"]
        for action in ("acknowledge", "mitigate", "resolve"):
            response = httpx.post(f"{base}/api/incidents/{key}/{action}", headers=auth)
            assert response.status_code == 200, response.text
        assert (
            httpx.post(f"{base}/api/incidents/{key}/acknowledge", headers=auth).status_code == 409
        )
    if not on_postgres:
        assert (tmp_path / "incidents.db").exists(), "default database is incidents.db in the cwd"
    with running_server(tmp_path, env) as base:
        after = httpx.get(f"{base}/api/incidents/{key}", headers=auth).json()
        assert after["status"] == "resolved"
        assert after["acknowledged_at"] <= after["mitigated_at"] <= after["resolved_at"]
        assert after["durations"]["time_to_resolve"] is not None
        kinds = [
            e["kind"]
            for e in httpx.get(f"{base}/api/incidents/{key}/timeline", headers=auth).json()
        ]
        assert kinds == ["declared", "acknowledged", "mitigated", "resolved"]
