"""Issue 8: what a hostile client can do, end to end against a real uvicorn, and that bystanders carry on.

Each test attacks with small limits (so it is fast) and checks the bound, the client's view, and
that another client on the same server is still served. Memory is checked with a margin, never time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from socketapi.transport.tcp import listening_socket
from tests.support import (
    Client,
    RawClient,
    Server,
    Servers,
    assert_still_served,
    bystander,
    close_code,
    connect,
    rss_kib,
)

MiB = 1024 * 1024


def eventually(condition: Callable[[], Any], what: str, within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {within}s: {what}")


def strict_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN and Infinity, as JavaScript's JSON.parse does."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


class Flood:
    """A raw client sending ``frames`` in a thread until TCP stops taking them (or all are sent)."""

    def __init__(self, server: Server, frames: Iterator[str], seconds: float = 1.0) -> None:
        self.raw = RawClient(server.port)
        self.sent = 0
        self.raw.sock.settimeout(seconds)

        def run() -> None:
            with contextlib.suppress(OSError):
                for frame in frames:
                    self.raw.send_text(frame)
                    self.sent += 1

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def join(self) -> None:
        """Wait for the sending to stop: TCP no longer takes frames (or all were sent)."""
        self.thread.join(30)
        assert not self.thread.is_alive()

    def __enter__(self) -> Flood:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


@pytest.fixture
def leave_log(tmp_path: Path) -> Path:
    return tmp_path / "leave.log"


# -- 1. inbound work is bounded: the server stops reading, TCP pushes back -------------------------


def test_a_flood_of_slow_calls_is_held_in_tcp_not_in_tasks(servers: Servers, clients: list[Client]) -> None:
    server = servers.start({"max_inflight": 8})
    b = bystander(clients, server)
    monitor = connect(clients, server)
    base = monitor.call("stats")["tasks"]
    call = json.dumps({"type": "action", "channel": "sleep", "data": {"seconds": 30}})
    with Flood(server, (call for _ in range(200_000))) as flood:
        flood.join()
        assert flood.sent < 200_000  # TCP pushed back: the client could not hand over everything
        # Its connection's own task (on ASGI, also the task reading it), and max_inflight calls.
        own = 2 if servers.transport == "asgi" else 1
        assert monitor.call("stats")["tasks"] <= base + own + 8
        b.send({"type": "ping", "ref": "p"})
        assert b.recv() == {"type": "pong", "ref": "p"}  # a bystander is answered meanwhile
    assert_still_served(clients, server, b)


@pytest.mark.parametrize("kind", ["action", "event"])
def test_fat_frames_are_bounded_by_bytes_with_the_default_limits(
    servers: Servers, clients: list[Client], kind: str
) -> None:
    server = servers.start()  # defaults: 64 frames or 4 MiB of work in flight per socket
    b = bystander(clients, server)
    pad = "x" * (512 * 1024 - 200)
    if kind == "action":
        frame = json.dumps({"type": "action", "channel": "sleep", "data": {"seconds": 30, "pad": pad}})
        before: list[str] = []
    else:
        frame = json.dumps(
            {"type": "event", "channel": "room:fat", "event": "work", "data": {"seconds": 30, "pad": pad}}
        )
        before = [json.dumps({"type": "subscribe", "channel": "room:fat"})]
    rss_before = rss_kib(server.pid)
    with Flood(server, iter(before + [frame] * 256)) as flood:
        flood.join()
        assert flood.sent < 256  # 128 MiB were on offer; the server took a few MiB and stopped reading
        growth = rss_kib(server.pid) - rss_before
        assert growth < 50 * 1024, f"the server grew by {growth} KiB"
        b.send({"type": "ping", "ref": "p"})
        assert b.recv() == {"type": "pong", "ref": "p"}
    assert_still_served(clients, server, b)


def test_a_client_over_the_bound_is_served_once_work_finishes(servers: Servers, clients: list[Client]) -> None:
    server = servers.start({"max_inflight": 4})
    ws = connect(clients, server, timeout=20)
    for i in range(40):  # ten times the bound, all sent at once
        ws.send({"type": "action", "channel": "sleep", "data": {"seconds": 0.05}, "ref": i})
    refs = sorted(ws.recv()["ref"] for _ in range(40))
    assert refs == list(range(40))  # nothing lost, nothing refused: the reader only waited


# -- 2. a socket the server closes is released, whether or not its client reads ---------------------


def join_100_then_stop_reading(server: Server, clients: list[Client]) -> tuple[RawClient, Client]:
    other = connect(clients, server)
    before = other.call("stats")["subscriptions"]
    deaf = RawClient(server.port)
    for i in range(100):
        deaf.send_text(json.dumps({"type": "subscribe", "channel": f"room:{i}"}))
    eventually(lambda: other.call("stats")["subscriptions"] == before + 100, "the 100 joins")
    for i in range(100):  # 100 x 10 frames of 4 KB: far beyond its queue of 256 frames / 1 MiB
        other.call("shout", {"topic": f"room:{i}", "count": 10, "size": 4000})
    # The server decided to close it (1013). What it sends from now on must not be executed:
    deaf.send_text(json.dumps({"type": "action", "channel": "mark", "data": {"name": "after-close"}}))
    return deaf, other


def test_a_closed_socket_that_never_reads_is_released_at_the_decision(
    servers: Servers, clients: list[Client], leave_log: Path
) -> None:
    # close_timeout is long: what is checked here must not wait for the close frame to be written.
    server = servers.start({"close_timeout": 60}, SOCKETAPI_TEST_LEAVE_LOG=str(leave_log))
    b = bystander(clients, server)
    deaf, other = join_100_then_stop_reading(server, clients)
    eventually(lambda: other.call("stats")["subscriptions"] == 1, "its 100 subscriptions to go")
    eventually(lambda: leave_log.exists() and len(leave_log.read_text().splitlines()) == 100, "its 100 leave hooks")
    assert set(leave_log.read_text().split()[1::2]) == {"overflow"}  # with the close's reason
    assert "after-close" not in other.call("stats")["marks"]  # its frame sent after the decision did not run
    deaf.close()
    assert_still_served(clients, server, b)


def test_a_closed_socket_that_never_reads_is_let_go_after_close_timeout(
    servers: Servers, clients: list[Client]
) -> None:
    server = servers.start({"close_timeout": 1})
    monitor = connect(clients, server)
    base = monitor.call("stats")["sockets"]
    deaf, _ = join_100_then_stop_reading(server, clients)
    # The app hands the connection back to the server: it no longer counts it.
    eventually(lambda: monitor.call("stats")["sockets"] == base + 1, "the deaf socket to be let go")  # (+ `other`)
    assert "was not taken in 1s; abandoning the connection" in servers.logs[server.pid].read_text()
    deaf.close()


def test_an_idle_socket_that_never_reads_is_let_go_too(servers: Servers, clients: list[Client]) -> None:
    server = servers.start({"idle_timeout": 0.5, "close_timeout": 1})
    monitor = connect(clients, server)
    base = monitor.call("stats")["sockets"]
    deaf = RawClient(server.port)
    for _ in range(40):  # 40 answers of 100 KB that it never reads: its TCP buffers fill up
        deaf.send_text(json.dumps({"type": "action", "channel": "echo", "data": {"value": "x" * 100_000}}))
    # Then it says nothing: the idle timeout closes it, but the close frame cannot be written.
    eventually(lambda: monitor.call("stats")["sockets"] == base, "the idle deaf socket to be let go")
    log = servers.logs[server.pid].read_text()
    assert "Idle timeout" in log or "no frame for" in log
    assert "abandoning the connection" in log
    deaf.close()


def test_with_tcp_user_timeout_the_descriptor_is_released_too(
    servers: Servers, clients: list[Client], leave_log: Path
) -> None:
    sock = listening_socket("127.0.0.1", 0, user_timeout=1)
    try:
        server = servers.start({"close_timeout": 1}, sock=sock, SOCKETAPI_TEST_LEAVE_LOG=str(leave_log))
    finally:
        sock.close()  # the server holds its own copy
    assert_deaf_descriptor_released(server, clients)
    eventually(lambda: len(leave_log.read_text().splitlines()) == 100, "its 100 leave hooks")


def assert_deaf_descriptor_released(server: Server, clients: list[Client]) -> None:
    """A client joins 100 channels and stops reading: the server closes its descriptor (TCP_USER_TIMEOUT)."""
    monitor = connect(clients, server)
    base_fds = monitor.call("stats")["fds"]
    deaf, _ = join_100_then_stop_reading(server, clients)
    try:
        # The deaf client and `other`; the leave hooks' log writes may hold a descriptor for a moment.
        assert monitor.call("stats")["fds"] >= base_fds + 2
        eventually(lambda: monitor.call("stats")["fds"] == base_fds + 1, "the deaf client's descriptor to be closed")
    finally:
        deaf.close()


def test_socketapi_run_releases_the_descriptor_by_default(
    servers: Servers, clients: list[Client], leave_log: Path
) -> None:
    """`socketapi run` serves the ASGI transport on a listening socket with TCP_USER_TIMEOUT set."""
    if servers.transport != "asgi":
        pytest.skip("the direct transport aborts a connection itself")
    server = servers.start(
        {"close_timeout": 1}, args=("--tcp-user-timeout", "1"), cli=True, SOCKETAPI_TEST_LEAVE_LOG=str(leave_log)
    )
    assert_deaf_descriptor_released(server, clients)


# -- 3. strict JSON out ---------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_and_are_refused(servers: Servers, clients: list[Client], literal: str) -> None:
    server = servers.start()
    ws = connect(clients, server)
    ws.send(f'{{"type":"action","channel":"echo","data":{{"value":{literal}}},"ref":1}}')
    assert strict_json(ws.ws.recv(timeout=5)) == {"type": "error", "message": "Invalid JSON."}
    assert ws.call("echo", {"value": 1.5}) == 1.5


def test_non_finite_numbers_are_sent_as_null_in_answers_and_broadcasts(servers: Servers, clients: list[Client]) -> None:
    server = servers.start()
    ws = connect(clients, server)
    listener = bystander(clients, server)
    answers = []
    for frame in (
        '{"type":"action","channel":"number","data":{"x":1e999999},"ref":1}',  # too big for a double: inf
        '{"type":"action","channel":"echo","data":{"value":[-1e999999]},"ref":2}',
        '{"type":"action","channel":"difference","data":{"a":1e999999,"b":1e999999},"ref":3}',  # NaN
    ):
        ws.send(frame)
        answers.append(strict_json(ws.ws.recv(timeout=5))["data"])
    assert answers == [None, [None], None]
    ws.send('{"type":"action","channel":"shout","data":{"topic":"chat","value":{"x":1e999999}},"ref":4}')
    assert strict_json(listener.ws.recv(timeout=5)) == {
        "type": "data",
        "channel": "chat",
        "data": {"i": 0, "value": {"x": None}, "pad": ""},
    }


# -- 4. bounded error frames -------------------------------------------------------------------------------


@pytest.mark.parametrize("with_ref", [False, True])
def test_a_900_kib_name_gets_a_small_error(servers: Servers, clients: list[Client], with_ref: bool) -> None:
    server = servers.start()
    ws = connect(clients, server)
    name = "n" * (900 * 1024)
    ws.send({"type": "action", "channel": name, **({"ref": 1} if with_ref else {})})
    text = ws.ws.recv(timeout=5)
    assert len(text) < 1024
    answer = json.loads(text)
    assert answer["message"] == f"Action '{'n' * 256}…' not found."
    if with_ref:
        assert answer["channel"] == "n" * 256 + "…"
        assert answer["code"] == "unknown_action"
    ws.send({"type": "action", "channel": "nope", "ref": 2})  # an ordinary name is echoed exactly, as in 0.2.0
    assert ws.recv() == {
        "type": "error",
        "message": "Action 'nope' not found.",
        "ref": 2,
        "channel": "nope",
        "code": "unknown_action",
    }


def test_huge_types_and_refs_get_small_errors(servers: Servers, clients: list[Client]) -> None:
    server = servers.start()
    ws = connect(clients, server)
    ws.send({"type": [1e15] * 50_000, "channel": "x", "ref": 1})
    text = ws.ws.recv(timeout=5)
    assert len(text) < 1024
    assert json.loads(text)["message"].startswith("Unknown message type: [1000000000000000.0, ")
    ws.send({"type": "ping", "ref": "r" * 100_000})
    assert ws.recv() == {
        "type": "error",
        "message": "'ref' is too long: at most 256 characters, or an integer up to 2^53 - 1.",
    }
    ws.send({"type": "ping", "ref": "r" * 256})
    assert ws.recv() == {"type": "pong", "ref": "r" * 256}


# -- 5. liveness: listeners stay, dead peers go -------------------------------------------------------------


def test_a_listener_outlives_the_idle_timeout(servers: Servers, clients: list[Client]) -> None:
    server = servers.start({"idle_timeout": 0.5})
    listener = bystander(clients, server)  # subscribes, then never sends again
    silent = connect(clients, server, timeout=10)  # neither sends nor listens
    speaker_frames = []
    for i in range(8):  # 2 s of broadcasts, 0.25 s apart: four times the idle timeout
        speaker = connect(clients, server)  # a new speaker each time: each one speaks once
        speaker.call("say", {"message": str(i)})
        speaker_frames.append(listener.recv())
        time.sleep(0.25)
    assert speaker_frames == [{"type": "data", "channel": "chat", "data": {"message": str(i)}} for i in range(8)]
    assert close_code(silent) == 1001  # the idle timeout still applies to a socket that does nothing
    listener.send({"type": "ping"})
    assert listener.recv() == {"type": "pong"}


def test_a_peer_that_vanishes_without_a_fin_is_released(
    servers: Servers, clients: list[Client], leave_log: Path
) -> None:
    # The server's WebSocket pings find it: every 0.5 s here (uvicorn's default is 20 s, with 20 s to answer).
    args = ("--ws-ping-interval", "0.5", "--ws-ping-timeout", "0.5")
    server = servers.start(args=args, SOCKETAPI_TEST_LEAVE_LOG=str(leave_log))
    b = bystander(clients, server)
    ghost = RawClient(server.port, rcvbuf=65536)  # a bare socket: it never answers a ping
    ghost.send_text(json.dumps({"type": "subscribe", "channel": "room:ghost"}))
    other = connect(clients, server)
    eventually(lambda: other.call("stats")["subscriptions"] == 2, "the ghost's join")
    # From here on it neither reads, nor answers pings, nor closes: as if its machine had vanished.
    eventually(lambda: other.call("stats")["subscriptions"] == 1, "the ghost to be released")
    eventually(lambda: leave_log.exists() and leave_log.read_text().splitlines() == ["room:ghost closed"], "its leave")
    ghost.close()
    assert_still_served(clients, server, b)
