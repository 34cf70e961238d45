"""Run the HTTP server for ``incidents serve``: uvicorn, with Nagle's algorithm off on every
connection, whatever the number of worker processes.

Why: with ``--workers`` above 1 uvicorn binds the listening socket itself, without naming
the TCP protocol, and asyncio then skips the ``TCP_NODELAY`` it sets on connections it
accepts (it checks ``sock.proto == IPPROTO_TCP``). Every answer goes out in two writes
(headers, then body), so the body waited for the client's delayed acknowledgement: 40 ms
on each request, which halved the webhook throughput of two workers compared with one
(measured with ``tests/bench/ingest.py``). On Linux a connection inherits the option from
its listening socket, so setting it there covers every worker. One process lets asyncio
bind the socket, and asyncio sets the option itself.

Each serving process also keeps all its threads on one CPU of its own (worker i on the
i-th CPU it may use), unless ``INCIDENTS_PIN_CPU=false``. Why: the event loop and the
group-commit writer take turns on one GIL, and when the kernel runs them on two cores
every handover moves the interpreter's hot data between the cores' caches. Measured with
``tests/bench/ingest.py`` on the 2-core machine, one process on SQLite: 870–1,080 µs of
CPU per delivery pinned, 1,150–1,320 unpinned, and 20–40% more deliveries per second. A
process that holds one GIL uses about one core whatever the kernel does; the pin only
keeps it from bouncing. A single CPU, or a platform without affinity, leaves it alone.

On Linux, several workers each listen on a socket of their own (``SO_REUSEPORT``), and
the kernel spreads new connections among them by their addresses. Why: on uvicorn's one
shared socket every worker woke for each new connection and the first took every
connection waiting, so a client opening its connections at once (Alertmanager's pool, the
benchmark's 32) often had them all served by one worker while the other idled (seen in
two of six runs of ``tests/bench/ingest.py`` on PostgreSQL: 1,350–1,600 deliveries a
second against 1,790 with both busy). The parent keeps the address bound without
listening on it, so a restarted worker joins again. A connection still waiting in a
worker's queue when that worker dies is reset (the sender retries), which the shared
socket avoided.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

APP = "incidents.api.app:app_from_environment"
WORKER_INDEX = "INCIDENTS_WORKER_INDEX"  # read by Settings.worker_index
log = logging.getLogger(__name__)


class NoDelayConfig(uvicorn.Config):
    """uvicorn's configuration, binding listening sockets with TCP_NODELAY set (and pinning
    each serving process to a CPU of its own when `pin_cpu`)."""

    def __init__(self, *args: Any, pin_cpu: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Handed to each worker process as it is spawned: the count of CPUs given out. One
        # process needs no count (and no semaphore: stopped by SIGTERM, which uvicorn
        # re-raises, it left one behind and the resource tracker warned about it).
        several = self.workers > 1
        self.cpu_slots = multiprocessing.get_context("spawn").Value("i", 0) if several else None
        self.pin_cpu = pin_cpu

    def load(self) -> None:
        """Number this serving process (``INCIDENTS_WORKER_INDEX``: its group-commit writer's
        slot, store/bulk) and pin it (before it starts any thread), then load the app."""
        index = 0
        if self.cpu_slots is not None:
            with self.cpu_slots.get_lock():
                index = self.cpu_slots.value
                self.cpu_slots.value += 1
        os.environ[WORKER_INDEX] = str(index % self.workers)  # a restarted worker: a free one
        if self.pin_cpu:
            pin_to_one_cpu(index)
        super().load()

    def bind_socket(self) -> socket.socket:
        """Bind as uvicorn does (a socket each worker re-creates as its own, for several
        workers on Linux), then turn Nagle's algorithm off for every connection."""
        if self.workers > 1 and self.uds is None and self.fd is None and _SPREADS:
            sock: socket.socket = SpreadSocket.bound(self.host, self.port)
            address = sock.getsockname()
            log.info("serving on %s port %d, %d workers", address[0], address[1], self.workers)
        else:
            sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


_SPREADS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class SpreadSocket(socket.socket):
    """An address several workers listen on: a worker spawned with it gets a new socket of
    its own on the same address, and the kernel spreads connections among them."""

    @classmethod
    def bound(cls, host: str, port: int) -> SpreadSocket:
        """Bind the parent's socket (it never listens; it holds the address)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = cls(family, socket.SOCK_STREAM)
        try:
            _share_address(sock)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            log.error("cannot listen on %s port %d: %s", host, port, exc)
            sys.exit(STARTUP_FAILURE)
        sock.set_inheritable(True)
        return sock

    def __reduce__(self) -> tuple[Any, ...]:
        """What a spawned worker unpickles: a listening socket of its own."""
        host, port = self.getsockname()[:2]
        return (worker_socket, (self.family, host, port))


def worker_socket(family: int, host: str, port: int) -> socket.socket:
    """Bind this worker's own socket on the shared address, Nagle off for its connections."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    _share_address(sock)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _share_address(sock: socket.socket) -> None:
    """Let the workers' sockets bind the same address (and a restart rebind it at once)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def pin_to_one_cpu(index: int) -> int | None:
    """Keep the calling thread, and every thread it starts, on the `index`-th allowed CPU
    (wrapping round); return that CPU, or None where there is nothing to choose."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:  # one CPU: nothing to choose
        return None
    cpu = allowed[index % len(allowed)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def run(
    *, host: str, port: int, workers: int, log_level: str, app: str = APP, factory: bool = True,
    pin_cpu: bool = True,
) -> None:  # fmt: skip
    """Serve the app until interrupted (what ``uvicorn.run`` does, with our socket)."""
    config = NoDelayConfig(app, factory=factory, host=host, port=port, workers=workers,
                           log_level=log_level, pin_cpu=pin_cpu)  # fmt: skip
    server = uvicorn.Server(config=config)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        log.info("interrupted: stopped serving")  # Ctrl-C ends serving quietly, as uvicorn.run
    if workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)
