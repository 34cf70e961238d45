"""`incidents serve` turns Nagle's algorithm off on every connection, with any number of
workers (incidents/serving.py)."""

from __future__ import annotations

import socket

from incidents.serving import APP, NoDelayConfig


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
