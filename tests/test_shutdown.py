"""Graceful shutdown on a real server process, on both transports: its deadline, a second signal, refusals, opting out.

The app is ``tests.apps.feed`` run by ``socketapi run`` (``--transport asgi`` or ``direct``);
its ``slow`` channel's ``leave`` sleeps as long as the test says and notes in a file when it
started (with its reason) and whether it finished or was cancelled. The bounds asserted are
far below the hook's own sleep, and far above the deadline: a loaded machine cannot make them
flaky, and a shutdown that waits for the hook cannot pass them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live import wait_until
from tests.support import TRANSPORTS, Client, Server, serve

HOOK_SLEEP = 120  # seconds a slow leave hook would take: no bound below passes if the shutdown waits for it


@contextmanager
def server_with(
    transport: str, tmp_path: Path, leave_delay: float = HOOK_SLEEP, **options: Any
) -> Iterator[tuple[Server, Path]]:
    hooks = tmp_path / "leave.log"
    env = {
        "SOCKETAPI_TEST_LIMITS": json.dumps(options),
        "SOCKETAPI_TEST_LEAVE_DELAY": str(leave_delay),
        "SOCKETAPI_TEST_LEAVE_LOG": str(hooks),
    }
    with serve("tests.apps.feed:app", env=env, transport=transport, cli=True) as server:
        yield server, hooks


def notes(hooks: Path) -> list[str]:
    return hooks.read_text().splitlines() if hooks.exists() else []


def slow_to_leave(server: Server) -> Client:
    """A subscriber of the channel whose ``leave`` is slow."""
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


def exit_within(server: Server, within: float) -> float:
    """Seconds until the server process exits (it must, within ``within``); its exit status is a clean one."""
    start = time.monotonic()
    try:
        code = server.process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server was still running {within}s later")
    assert code in (0, -signal.SIGTERM, -signal.SIGINT)  # uvicorn re-raises the signal it caught
    return time.monotonic() - start


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_slow_leave_hook_is_cancelled_at_the_deadline(transport: str, tmp_path: Path) -> None:
    """One SIGTERM: the hook runs with "shutdown", is cancelled at shutdown_timeout, and the process exits."""
    with server_with(transport, tmp_path, shutdown_timeout=2) as (server, hooks):
        client = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        assert close_code(client) == 1001
        exit_within(server, 30)  # 2 s deadline + 1 s margin, with room for a loaded machine; the hook takes 120 s
        assert notes(hooks) == ["started shutdown", "cancelled"]
        client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_leave_hook_that_ends_in_time_is_waited_for(transport: str, tmp_path: Path) -> None:
    """The deadline bounds the wait; it does not cut a hook that finishes within it."""
    with server_with(transport, tmp_path, leave_delay=1, shutdown_timeout=60) as (server, hooks):
        client = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        exit_within(server, 45)  # the hook's 1 s, well before the 60 s deadline
        assert notes(hooks) == ["started shutdown", "done"]
        client.close()


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_second_signal_skips_the_wait(transport: str, second: int, tmp_path: Path) -> None:
    with server_with(transport, tmp_path, shutdown_timeout=90) as (server, hooks):
        client = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: notes(hooks) == ["started shutdown"], "the leave hook to start", 20)
        server.process.send_signal(second)
        exit_within(server, 45)  # the deadline is 90 s away, the hook's end 120 s
        assert notes(hooks) == ["started shutdown", "cancelled"]
        client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_no_new_socket_is_accepted_while_shutting_down(transport: str, tmp_path: Path) -> None:
    with server_with(transport, tmp_path, shutdown_timeout=30) as (server, hooks):
        polite = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        assert close_code(polite) == 1001  # the shutdown has begun, and waits for the leave hook
        with pytest.raises(InvalidStatus) as refused:
            Client(server.url)
        assert refused.value.response.status_code == 403
        assert notes(hooks) == ["started shutdown"]  # still shutting down when refused
        polite.close()


@pytest.mark.parametrize(("transport", "graceful", "code"), [("asgi", True, 1001), ("asgi", False, 1012)])
def test_graceful_shutdown_can_be_left_to_the_server(transport: str, graceful: bool, code: int, tmp_path: Path) -> None:
    """Without it, uvicorn closes the sockets itself (1012, service restart) before the app hears of it.

    Its leave hooks then run with "closed"; uvicorn's own wait for them is bounded by
    ``shutdown_timeout`` too (``socketapi run`` passes it as ``timeout_graceful_shutdown``).
    """
    with server_with(transport, tmp_path, graceful_shutdown=graceful, shutdown_timeout=2) as (server, hooks):
        polite = slow_to_leave(server)
        server.process.send_signal(signal.SIGTERM)
        assert close_code(polite) == code
        polite.close()
        exit_within(server, 30)
        # uvicorn gives up on the connection at its timeout and exits: the hook never finishes
        assert notes(hooks) == (["started shutdown", "cancelled"] if graceful else ["started closed"])
