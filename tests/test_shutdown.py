"""Graceful shutdown on a real uvicorn: refusals while it runs, and opting out.

A second signal is not tested: under uvicorn it cannot be seen to shorten anything. uvicorn
waits for the app's connection tasks, and each waits for its own teardown (its leave hooks),
so a slow leave hook delays the exit past ``shutdown_timeout`` whatever the signals; a client
that never answers the close holds nothing.
"""

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
    """A subscriber whose ``leave`` takes 8 s: the shutdown waits for it (up to shutdown_timeout)."""
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
