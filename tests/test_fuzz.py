"""Arbitrary frames thrown at a live socket: the server always answers or closes with a documented code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.support import Client, RawClient, Server, serve

MAX_FRAME = 64 * 1024
DOCUMENTED_CLOSE_CODES = {1009}  # frame too large; nothing else may close a socket here
ANSWER_TYPES = {"error", "action", "subscribed", "unsubscribed", "reply", "pong", "data"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
field_values = (
    st.sampled_from(["action", "subscribe", "unsubscribe", "event", "ping", "chat", "echo", "room:1"]) | json_values
)
frame_objects = st.dictionaries(
    st.sampled_from(["type", "channel", "data", "ref", "event"]) | st.text(max_size=6), field_values, max_size=6
)
texts = st.one_of(
    frame_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.integers(1, 3000).map(lambda n: "[" * n),
    st.integers(1, 3000).map(lambda n: '{"type":"action","channel":"echo","data":{"value":' + "[" * n + "]" * n + "}}"),
    st.integers(MAX_FRAME - 64, MAX_FRAME * 2).map(lambda n: '{"type":"ping","pad":"' + "x" * n + '"}'),
    # the edge itself, in bytes of UTF-8: exactly the limit is served, one byte more is closed
    st.sampled_from(["x", "é", "😀"]).flatmap(
        lambda c: st.integers(-4, 4).map(lambda d: '{"type":"ping","pad":"' + c * ((MAX_FRAME + d) // len(c.encode())))
    ),
)
frames = st.one_of(texts, st.binary(max_size=200), st.integers(MAX_FRAME - 2, MAX_FRAME + 2).map(lambda n: b"x" * n))


def size(frame: str | bytes) -> int:
    return len(frame.encode() if isinstance(frame, str) else frame)


@pytest.fixture(scope="module")
def server(transport: str) -> Iterator[Server]:
    with serve(
        "tests.apps.hardened:app",
        env={"SOCKETAPI_TEST_LIMITS": json.dumps({"max_frame_size": MAX_FRAME})},
        transport=transport,
    ) as s:
        yield s


class Fuzzer:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.client: Client | None = None
        self.bystander = Client(server.url)
        self.bystander.send({"type": "subscribe", "channel": "chat"})
        assert self.bystander.recv()["type"] == "subscribed"
        self.n = 0

    def connection(self) -> Client:
        if self.client is None:
            self.client = Client(self.server.url)
        return self.client

    def check(self, frame: str | bytes) -> None:
        self.n += 1
        client = self.connection()
        marker = f"fuzz-{self.n}"
        oversize = size(frame) > MAX_FRAME
        try:
            client.send(frame)
            client.send({"type": "ping", "ref": marker})
            while True:
                answer = client.recv()  # bounded: raises TimeoutError if the server hangs
                assert isinstance(answer, dict)
                assert answer.get("type") in ANSWER_TYPES, answer
                if answer.get("ref") == marker:
                    break
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            assert code in DOCUMENTED_CLOSE_CODES, f"closed with {code} after {frame[:100]!r}"
            assert oversize, f"a frame of {size(frame)} bytes, under the limit, closed the socket"
            client.close()
            self.client = None
        else:
            assert not oversize, f"a frame of {size(frame)} bytes, over the {MAX_FRAME}-byte limit, was served"
        # A bystander on the same server still gets broadcasts.
        speaker = self.connection()
        speaker.call("say", {"message": marker})
        while (got := self.bystander.recv()) != {"type": "data", "channel": "chat", "data": {"message": marker}}:
            assert got["type"] == "data", got  # a fuzzed frame may have broadcast something before ours


@pytest.fixture(scope="module")
def fuzzer(server: Server) -> Fuzzer:
    return Fuzzer(server)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_arbitrary_frames_never_crash_or_hang_the_server(fuzzer: Fuzzer, frame: str | bytes) -> None:
    fuzzer.check(frame)


def test_churn_leaves_nothing_behind(server: Server) -> None:
    observer = Client(server.url)
    baseline = observer.call("stats")
    for i in range(500):
        raw = RawClient(server.port)
        raw.send_text(json.dumps({"type": "subscribe", "channel": f"room:{i % 7}"}))
        raw.send_text(json.dumps({"type": "subscribe", "channel": "chat"}))
        if i % 2:
            raw.send_text(json.dumps({"type": "action", "channel": "block"}))  # a task still running when dropped
        raw.close()  # gone without a close frame
    deadline = time.monotonic() + 30
    while (stats := observer.call("stats")) != baseline and time.monotonic() < deadline:
        time.sleep(0.1)  # the server tears 500 sockets down on its own time; poll its state, bounded
    assert stats["sockets"] == baseline["sockets"]
    assert stats["subscriptions"] == baseline["subscriptions"]
    assert stats["topics"] == baseline["topics"]
    assert stats["tasks"] == baseline["tasks"]
    observer.close()
