"""`incidents serve` turns Nagle's algorithm off on every connection, with any number of
workers (incidents/serving.py)."""

from __future__ import annotations

import multiprocessing
import os
import socket

import pytest

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
    assert config.cpu_slots is None
    pinned = NoDelayConfig(APP, factory=True, host="127.0.0.1", port=0, workers=2, pin_cpu=True)
    assert pinned.cpu_slots is not None and pinned.cpu_slots.value == 0
