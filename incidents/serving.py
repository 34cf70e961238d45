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
"""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

APP = "incidents.api.app:app_from_environment"
log = logging.getLogger(__name__)


class NoDelayConfig(uvicorn.Config):
    """uvicorn's configuration, binding listening sockets with TCP_NODELAY set."""

    def bind_socket(self) -> socket.socket:
        """Bind as uvicorn does, then turn Nagle's algorithm off for every connection."""
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def run(
    *, host: str, port: int, workers: int, log_level: str, app: str = APP, factory: bool = True
) -> None:
    """Serve the app until interrupted (what ``uvicorn.run`` does, with our socket)."""
    config = NoDelayConfig(app, factory=factory, host=host, port=port, workers=workers,
                           log_level=log_level)  # fmt: skip
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
