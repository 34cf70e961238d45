"""`incidents serve` turns Nagle's algorithm off on every connection, with any number of
workers, pins each worker to a CPU and spreads connections among workers
(incidents/serving.py)."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from incidents.serving import _SPREADS, APP, NoDelayConfig
from tests.servers import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[1]


def _pid(_request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


def _index(_request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"{os.getpid()} {os.environ.get('INCIDENTS_WORKER_INDEX')}")


pid_app = Starlette(routes=[Route("/pid", _pid), Route("/index", _index)])  # which worker


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_connections_accepted_on_the_workers_socket_send_without_delay():
    config = NoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, workers=2)
    listener = config.bind_socket()
    try:
        assert _nodelay(listener)
        listener.listen()  # what each worker's server does with it
        with socket.create_connection(listener.getsockname()[:2], timeout=5) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert _nodelay(accepted), "a connection inherits it from its listener"
                assert client.getsockname() == accepted.getpeername()
    finally:
        listener.close()


def test_uvicorns_own_socket_would_not_have_it():
    """Why the subclass exists: plain uvicorn leaves the option off for several workers."""
    import uvicorn

    listener = uvicorn.Config(APP, factory=True, host="127.0.0.1", port=0).bind_socket()
    try:
        assert not _nodelay(listener)
        assert listener.proto != socket.IPPROTO_TCP, "so asyncio will not set it either"
    finally:
        listener.close()


def _in_child(index: int, answer: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    """Pin a fresh process and report what the kernel says it may use."""
    from incidents.serving import pin_to_one_cpu

    cpu = pin_to_one_cpu(index)
    answer.put((cpu, sorted(os.sched_getaffinity(0))))


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs CPU affinity and two CPUs",
)
def test_each_serving_process_is_pinned_to_a_cpu_of_its_own():
    allowed = sorted(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    seen = []
    for index in range(len(allowed) + 1):
        answer = context.SimpleQueue()
        child = context.Process(target=_in_child, args=(index, answer))
        child.start()
        child.join(timeout=30)
        cpu, affinity = answer.get()
        assert affinity == [cpu], "the process may run on that CPU only"
        seen.append(cpu)
    assert seen == [*allowed, allowed[0]], "worker i on the i-th CPU, wrapping round"
    assert sorted(os.sched_getaffinity(0)) == allowed, "the caller itself is left alone"


def test_pinning_can_be_turned_off():
    config = NoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, pin_cpu=False)
    assert config.cpu_slots is None and not config.pin_cpu
    pinned = NoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, workers=2, pin_cpu=True)
    assert pinned.cpu_slots is not None and pinned.cpu_slots.value == 0
    alone = NoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, workers=1, pin_cpu=True)
    assert alone.cpu_slots is None and alone.pin_cpu, "one process: pinned, no shared count"
    several = NoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, workers=2, pin_cpu=False)
    assert several.cpu_slots is not None, "workers are numbered, pinned or not"


def test_each_worker_is_told_its_index(tmp_path):
    """Each worker's group-commit writer keeps its own touch rows (store/bulk): 0 and 1."""
    with serving_pid_app(tmp_path, workers=2, pin_cpu=False) as (port, log):
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while len(seen) < 2:
            assert time.monotonic() < deadline, log.read_text()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/index")
            pid, index = connection.getresponse().read().decode().split()
            connection.close()
            seen[pid] = index
    assert sorted(seen.values()) == ["0", "1"], seen


def test_one_process_stopped_by_sigterm_leaves_nothing_to_clean_up(tmp_path):
    """A service manager stops the server with SIGTERM: no warning about leaked semaphores."""
    with serving_pid_app(tmp_path, workers=1, pin_cpu=True, stop=signal.SIGTERM) as (_, log):
        pass
    time.sleep(0.5)  # a resource tracker, had one been started, reports after its parent
    assert "leaked" not in log.read_text(), log.read_text()


@contextmanager
def serving_pid_app(
    tmp_path: Path, *, workers: int, pin_cpu: bool, stop: signal.Signals = signal.SIGTERM
) -> Iterator[tuple[int, Path]]:
    """Serve ``pid_app`` through ``serving.run`` in a process of its own; yield its port and
    log once it answers; stop it with `stop`."""
    port = free_port()
    code = (f"from incidents import serving; serving.run(host='127.0.0.1', port={port},"
            f" workers={workers}, log_level='warning', app='tests.test_serving:pid_app',"
            f" factory=False, pin_cpu={pin_cpu})")  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=sink,
                                  stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/pid", server, log)
        yield port, log
    finally:
        server.send_signal(stop)
        server.wait(timeout=20)


def _ask_pid(connection: http.client.HTTPConnection) -> str:
    connection.request("GET", "/pid")
    return connection.getresponse().read().decode()


def _fresh_pids(port: int, count: int) -> set[str]:
    """Which workers answer `count` connections opened one after the other."""
    pids = set()
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        pids.add(_ask_pid(connection))
        connection.close()
    return pids


@pytest.mark.skipif(not _SPREADS, reason="SO_REUSEPORT spreads connections on Linux only")
def test_connections_opened_at_once_are_shared_out_among_the_workers(tmp_path):
    with serving_pid_app(tmp_path, workers=2, pin_cpu=False) as (port, log):
        deadline = time.monotonic() + 30
        while len(_fresh_pids(port, 20)) < 2:  # until the second worker listens too
            assert time.monotonic() < deadline, log.read_text()
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                       for _ in range(40)]  # fmt: skip
        for connection in connections:
            connection.connect()  # all 40 wait to be accepted before any request
        served = Counter(_ask_pid(connection) for connection in connections)
        for connection in connections:
            connection.close()
    assert len(served) == 2 and min(served.values()) >= 8, served  # 1 in 100,000 by chance
