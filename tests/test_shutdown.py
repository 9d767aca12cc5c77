"""Graceful shutdown on a real uvicorn: refusals while it runs, a second signal, and opting out."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import Client, Server, serve


@contextmanager
def server_with(**options: Any) -> Iterator[Server]:
    with serve("tests.apps.feed:app", env={"SOCKETAPI_TEST_LIMITS": json.dumps(options)}) as server:
        yield server


def slow_to_leave(server: Server) -> Client:
    """A subscriber whose ``leave`` takes a minute: the shutdown waits for it (up to shutdown_timeout)."""
    client = Client(server.url, timeout=10)
    client.send({"type": "subscribe", "channel": "slow"})
    assert client.recv() == {"type": "subscribed", "channel": "slow"}
    return client


def close_code(client: Client) -> int | None:
    try:
        for _ in range(100):
            client.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    raise AssertionError("still open")


def exit_code(server: Server, within: float) -> int:
    try:
        return server.process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server was still running {within}s later")


def test_no_new_socket_is_accepted_while_shutting_down() -> None:
    with server_with(shutdown_timeout=3) as server:
        polite = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        assert close_code(polite) == 1001  # the shutdown has begun, and waits for the leave hook
        with pytest.raises(InvalidStatus) as refused:
            Client(server.url)
        assert refused.value.response.status_code == 403
        polite.close()
        assert exit_code(server, 20) in (0, -signal.SIGTERM)


def test_a_second_signal_skips_the_wait() -> None:
    with server_with(shutdown_timeout=60) as server:
        polite = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        assert close_code(polite) == 1001
        server.process.send_signal(signal.SIGTERM)  # an impatient operator
        assert exit_code(server, 20) in (0, -signal.SIGTERM)  # long before the 60 s the leave hook takes
        polite.close()


@pytest.mark.parametrize(("graceful", "code"), [(True, 1001), (False, 1012)])
def test_graceful_shutdown_can_be_left_to_the_server(graceful: bool, code: int) -> None:
    """Without it, uvicorn closes the sockets itself (1012, service restart) before the app hears of it."""
    with server_with(graceful_shutdown=graceful, shutdown_timeout=5) as server:
        polite = Client(server.url, timeout=10)
        polite.send({"type": "subscribe", "channel": "feed"})
        assert polite.recv() == {"type": "subscribed", "channel": "feed"}
        server.process.send_signal(signal.SIGTERM)
        assert close_code(polite) == code
        polite.close()
        assert exit_code(server, 20) in (0, -signal.SIGTERM)
