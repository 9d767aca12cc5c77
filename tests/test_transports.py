"""What both transports must do alike, beyond the end-to-end suites: HTTP beside the socket, several
socket paths, fragmented and malformed frames, the leave reason of an oversized frame; and what only the
direct transport does (its handshake parser, its loop)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.apps.transports import MAX_FRAME
from tests.support import Client, RawClient, Server, serve

APP = "tests.apps.transports:app"


@pytest.fixture(scope="module")
def leave_log(tmp_path_factory: pytest.TempPathFactory, transport: str) -> Path:
    return tmp_path_factory.mktemp(f"transports-{transport}") / "leave.log"


@pytest.fixture(scope="module")
def server(transport: str, leave_log: Path) -> Iterator[Server]:
    with serve(APP, transport=transport, env={"SOCKETAPI_TEST_LEAVE_LOG": str(leave_log)}) as running:
        yield running


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for c in opened:
        c.close()


def connect(clients: list[Client], server: Server, path: str = "/", **kwargs: Any) -> Client:
    clients.append(Client(f"ws://127.0.0.1:{server.port}{path}", **kwargs))
    return clients[-1]


def request(server: Server, method: str, path: str, body: bytes | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(method, path, body=body)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def read_close(client: Client) -> int | None:
    try:
        while True:
            client.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def leaves(log: Path, topic: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith(topic + " ")] if log.exists() else []


def wait_for_leave(log: Path, topic: str) -> list[str]:
    import time

    deadline = time.monotonic() + 5
    while not leaves(log, topic) and time.monotonic() < deadline:
        time.sleep(0.05)
    return leaves(log, topic)


# -- HTTP beside the socket ------------------------------------------------------------------------


def test_http_routes_beside_the_socket(server: Server, clients: list[Client]) -> None:
    ws = connect(clients, server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/hello?name=ann")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("x-served") == "yes"
    assert json.loads(response.read()) == {"hello": "ann"}
    conn.close()
    assert request(server, "GET", "/nowhere").status == 404
    assert ws.call("echo", {"value": "socket unaffected"}) == "socket unaffected"


def test_a_websocket_to_a_path_not_served_is_refused_before_the_accept(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Client(f"ws://127.0.0.1:{server.port}/nowhere")
    assert refused.value.response.status_code == 403


def test_http_request_bodies(transport: str, server: Server, clients: list[Client]) -> None:
    ws = connect(clients, server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", "/hello?name=bob", body=b"x" * 100_000)
    response = conn.getresponse()
    assert (response.status, json.loads(response.read())) == (200, {"hello": "bob", "length": 100_000})
    conn.close()
    if transport == "direct":  # the direct transport's own limits on a body (uvicorn has its own)
        chunked = b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        assert raw_request(server, chunked).split(b" ")[1] == b"501"
        huge = b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
        assert raw_request(server, huge).split(b" ")[1] == b"413"
    assert ws.call("echo", {"value": 1}) == 1


# -- several socket paths, one app -------------------------------------------------------------------


def test_every_socket_path_shares_the_app(server: Server, clients: list[Client]) -> None:
    first, second = connect(clients, server, "/"), connect(clients, server, "/v1")
    second.send({"type": "subscribe", "channel": "chat"})
    assert second.recv() == {"type": "subscribed", "channel": "chat"}
    first.call("say", {"message": "across paths"})
    assert second.recv() == {"type": "data", "channel": "chat", "data": {"message": "across paths"}}


# -- frames ------------------------------------------------------------------------------------------


def test_a_fragmented_message_is_put_together(server: Server, clients: list[Client]) -> None:
    ws = connect(clients, server)
    ws.ws.send(['{"type":"action","channel":"echo",', '"data":{"value":"in two parts"},"ref":"f"}'])
    assert ws.recv() == {"type": "action", "channel": "echo", "status": "completed", "data": "in two parts", "ref": "f"}


@pytest.mark.parametrize("fragmented", [False, True], ids=["one frame", "fragments"])
def test_a_message_over_the_limit_closes_with_1009_and_leave_says_too_big(
    server: Server, clients: list[Client], leave_log: Path, fragmented: bool
) -> None:
    bystander = connect(clients, server)
    ws = connect(clients, server)
    topic = f"room:big-{int(fragmented)}"
    ws.send({"type": "subscribe", "channel": topic})
    assert ws.recv()["type"] == "subscribed"
    text = json.dumps({"type": "action", "channel": "echo", "data": {"value": "x" * MAX_FRAME}})
    with contextlib.suppress(ConnectionClosed):  # the server may close before the last fragment is sent
        ws.ws.send([text[:100], text[100:]] if fragmented else text)
    assert read_close(ws) == 1009
    assert wait_for_leave(leave_log, topic) == [f"{topic} too_big"]
    assert bystander.call("echo", {"value": "still here"}) == "still here"


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([(0x1, b"\xff\xfe", True)], 1007),  # a text frame that is not UTF-8
        ([(0x0, b"x", True)], 1002),  # a continuation with no message to continue
        ([(0x1, b'{"type":', False), (0x1, b"{}", True)], 1002),  # a new message inside a fragmented one
    ],
    ids=["bad utf-8", "stray continuation", "interleaved message"],
)
def test_protocol_errors_close_the_socket_alone(
    server: Server, clients: list[Client], frames: list[tuple[int, bytes, bool]], code: int
) -> None:
    bystander = connect(clients, server)
    raw = RawClient(server.port)
    try:
        for opcode, payload, fin in frames:
            raw.send_frame(opcode, payload, fin=fin)
        assert raw.read_until_closed(timeout=5)[1] == code
    finally:
        raw.close()
    assert bystander.call("echo", {"value": "unaffected"}) == "unaffected"


def test_binary_frames_get_an_error_frame(server: Server) -> None:
    raw = RawClient(server.port)
    try:
        raw.send_frame(0x2, b"\x00\x01")
        texts, code = raw.read_until_closed(timeout=5, until=b"error")
    finally:
        raw.close()
    assert code is None
    assert json.loads(texts[-1])["message"] == "Binary frames are not supported; send JSON as text."


# -- the direct transport's own handshake ------------------------------------------------------------


def raw_request(server: Server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"NOT A REQUEST\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", b"400"),  # no key
    ],
    ids=["garbage", "head too large", "upgrade without a key"],
)
def test_direct_handshake_answers_bad_requests(
    transport: str, server: Server, clients: list[Client], data: bytes, status: bytes
) -> None:
    if transport != "direct":
        pytest.skip("the ASGI transport's handshake is uvicorn's")
    bystander = connect(clients, server)
    assert raw_request(server, data).split(b" ")[1] == status
    assert bystander.call("echo", {"value": 1}) == 1


@pytest.mark.parametrize("how", ["header", "fragments"])
def test_direct_refuses_an_oversized_message_before_it_arrives(
    transport: str, server: Server, clients: list[Client], leave_log: Path, how: str
) -> None:
    """On the direct transport a frame is refused on its header, a fragmented message as soon as its
    parts pass the limit: neither is read to its end (memory stays bounded whatever the client claims)."""
    if transport != "direct":
        pytest.skip("uvicorn has its own bound (ws_max_size), set by socketapi run")
    bystander = connect(clients, server)
    raw = RawClient(server.port)
    topic = f"room:early-{how}"
    try:
        raw.send_text(json.dumps({"type": "subscribe", "channel": topic}))
        raw.read_until_closed(timeout=5, until=b"subscribed")
        if how == "header":  # announces 64 MiB, sends 1 KiB of it
            header = bytes([0x81, 0x80 | 127]) + (64 * 1024 * 1024).to_bytes(8, "big") + b"\x00" * 4
            raw.sock.sendall(header + b"x" * 1024)
        else:  # parts that never end, past the limit
            for _ in range(3):
                raw.send_frame(0x1 if _ == 0 else 0x0, b"x" * (MAX_FRAME // 2 + 1), fin=False)
        assert raw.read_until_closed(timeout=5)[1] == 1009
    finally:
        raw.close()
    assert wait_for_leave(leave_log, topic) == [f"{topic} too_big"]
    assert bystander.call("echo", {"value": "still here"}) == "still here"


def test_direct_transport_on_asyncio_loop(tmp_path: Path) -> None:
    with serve(APP, transport="direct", args=("--loop", "asyncio")) as running:
        listener, sender = Client(running.url), Client(running.url)
        try:
            listener.send({"type": "subscribe", "channel": "chat"})
            assert listener.recv() == {"type": "subscribed", "channel": "chat"}
            sender.call("say", {"message": "on asyncio"})
            assert listener.recv() == {"type": "data", "channel": "chat", "data": {"message": "on asyncio"}}
        finally:
            listener.close()
            sender.close()


async def test_direct_liveness_closes_a_connection_that_answers_no_ping() -> None:
    import asyncio

    from websockets.asyncio.client import connect as ws_connect

    from socketapi.transport.direct import Liveness
    from tests.apps.transports import app

    loop = asyncio.get_running_loop()
    listening: asyncio.Future[int] = loop.create_future()
    server = asyncio.create_task(
        app.serve(
            "127.0.0.1",
            0,
            liveness=Liveness(interval=0.3, timeout=0.3),
            started=lambda s: listening.set_result(s.sockets[0].getsockname()[1]),
        )
    )
    try:
        port = await asyncio.wait_for(listening, 10)
        async with ws_connect(f"ws://127.0.0.1:{port}/") as answering:  # answers pings by itself

            def deaf() -> int | None:  # answers nothing, reads until the server closes
                raw = RawClient(port)
                try:
                    return raw.read_until_closed(timeout=10)[1]
                finally:
                    raw.close()

            assert await asyncio.to_thread(deaf) == 1001
            await answering.send(json.dumps({"type": "action", "channel": "echo", "data": {"value": "alive"}}))
            assert json.loads(await asyncio.wait_for(answering.recv(), 5))["data"] == "alive"
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
