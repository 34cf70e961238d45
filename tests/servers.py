"""Start real servers for end-to-end tests: bound to 127.0.0.1, always stopped."""

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str | None, **settings: str) -> dict[str, str]:
    """Return an environment with only the given INCIDENTS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTS_")}
    if database_url:
        env["INCIDENTS_DATABASE_URL"] = database_url
    env.update({f"INCIDENTS_{name.upper()}": value for name, value in settings.items()})
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
    wait_for_http(f"{base}/healthz", process, log)


def wait_for_http(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    """Wait until `url` answers 200, failing with the process log if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{log.read_text()}")
