"""The Phoenix V2 JSON format frame by frame (SPEC 7.4), with raw frames: the edge cases and bad inputs.

What the official client sees is tested with the client itself in test_phoenix_client.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from socketapi import Channel, SocketAPI, on_event
from socketapi.testclient import SocketSession, TestClient
from socketapi.wire.phoenix import ARITY, REFS
from tests.apps import phoenix_app

URL = "/socket/websocket?vsn=2.0.0"
Frame = list[Any]


def ok(join_ref: Any, ref: Any, topic: str, response: Any) -> Frame:
    return [join_ref, ref, topic, "phx_reply", {"status": "ok", "response": response}]


def error(join_ref: Any, ref: Any, topic: str, response: Any) -> Frame:
    return [join_ref, ref, topic, "phx_reply", {"status": "error", "response": response}]


class Phx:
    """A raw Phoenix client: sends arrays, reads arrays; every wait bounded by the session's timeout."""

    def __init__(self, session: SocketSession) -> None:
        self.session = session
        self._refs = iter(range(1, 10_000))

    def ref(self) -> str:
        return str(next(self._refs))

    def send(self, frame: Any) -> None:
        self.session.websocket.send_text(json.dumps(frame))

    def receive(self) -> Frame:
        frame: Any = self.session.receive()
        return list(frame)

    def answer(self, ref: str, what: str = "the answer") -> Frame:
        frame: Any = self.session.receive_matching(lambda f: isinstance(f, list) and f[1] == ref, what)  # type: ignore[arg-type]
        return list(frame)

    def heartbeat(self) -> Frame:
        ref = self.ref()
        self.send([None, ref, "phoenix", "heartbeat", {}])
        return self.answer(ref, "the heartbeat reply")

    def alive(self) -> None:
        """The connection still answers."""
        frame = self.heartbeat()
        assert frame == ok(None, frame[1], "phoenix", {})


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(phoenix_app.create_app()) as client:
        yield client


@pytest.fixture
def phx(client: TestClient) -> Iterator[Phx]:
    with client.socket(URL) as session:
        yield Phx(session)


def test_join_event_reply_push_and_broadcast_frames(phx: Phx) -> None:
    phx.send(["1", "1", "room:a", "phx_join", {"name": "ada"}])
    assert phx.receive() == ok("1", "1", "room:a", {"room": "a", "name": "ada"})
    phx.send(["1", "2", "room:a", "echo", {"text": "hi"}])
    assert phx.receive() == ok("1", "2", "room:a", {"text": "hi"})
    phx.send(["1", "3", "room:a", "whisper", {"text": "psst"}])
    assert phx.receive() == ["1", None, "room:a", "whisper", {"text": "psst"}]  # a push: the join_ref, no ref
    phx.send(["1", "4", "room:a", "shout", {"text": "all"}])
    assert phx.receive() == [None, None, "room:a", "shout", {"from": "ada", "text": "all"}]  # a broadcast
    assert phx.receive() == ok("1", "4", "room:a", {"sent": True})
    phx.alive()


def test_a_join_without_reply_answers_an_empty_response_and_decorator_broadcasts_use_data(
    client: TestClient, phx: Phx
) -> None:
    phx.send(["1", "1", "news", "phx_join", {}])
    assert phx.receive() == ok("1", "1", "news", {})
    client.post("/_test/news", params={"headline": "hello"}).raise_for_status()
    assert phx.receive() == [None, None, "news", "data", {"headline": "hello"}]


def test_refused_and_unmatched_joins_and_handler_errors(phx: Phx) -> None:
    phx.send(["1", "1", "room:locked", "phx_join", {}])
    assert phx.receive() == error("1", "1", "room:locked", {"reason": "locked", "hint": "ask the owner"})
    phx.send(["2", "2", "nowhere", "phx_join", {}])
    assert phx.receive() == error(None, "2", "nowhere", {"reason": "unmatched topic"})
    phx.send(["3", "3", "room:b", "phx_join", {"name": 5}])
    frame = phx.receive()
    assert frame[:4] == ["3", "3", "room:b", "phx_reply"]
    assert frame[4]["status"] == "error"
    assert frame[4]["response"]["reason"] == "Invalid parameters for action 'room:b'"
    phx.send(["4", "4", "room:c", "phx_join", {}])
    assert phx.receive() == ok("4", "4", "room:c", {"room": "c", "name": "anon"})
    phx.send(["4", "5", "room:c", "boom", {}])
    assert phx.receive() == error("4", "5", "room:c", {"reason": "boom!"})
    phx.send(["4", "6", "room:c", "nope", {}])
    assert phx.receive() == error("4", "6", "room:c", {"reason": "Event 'nope' is not handled by channel 'room:c'."})
    phx.send([None, "7", "room:zzz", "echo", {"text": "x"}])  # an event on a topic this socket has not joined
    assert phx.receive() == error(None, "7", "room:zzz", {"reason": "unmatched topic"})
    phx.send(["4", "8", "room:c", "echo", {"text": "still here"}])
    assert phx.receive() == ok("4", "8", "room:c", {"text": "still here"})
    phx.alive()


def test_leave_replies_ok_then_closes_and_leaving_an_unjoined_topic_replies_ok(phx: Phx) -> None:
    phx.send(["1", "1", "room:l", "phx_join", {}])
    assert phx.receive()[4]["status"] == "ok"
    phx.send(["1", "2", "room:l", "phx_leave", {}])
    assert phx.receive() == ok("1", "2", "room:l", {})
    assert phx.receive() == ["1", "1", "room:l", "phx_close", {}]
    phx.send(["1", "3", "room:l", "echo", {"text": "x"}])
    assert phx.receive() == error(None, "3", "room:l", {"reason": "unmatched topic"})
    phx.send([None, "4", "room:never", "phx_leave", {}])
    assert phx.receive() == ok(None, "4", "room:never", {})
    phx.alive()


def test_a_new_join_of_a_joined_topic_closes_the_old_one_and_old_frames_are_ignored(
    client: TestClient, phx: Phx
) -> None:
    with client.socket(URL) as watcher_session:
        watcher = Phx(watcher_session)
        watcher.send(["w", "1", "room:r", "phx_join", {"name": "watcher"}])
        assert watcher.receive()[4]["status"] == "ok"
        phx.send(["1", "1", "room:r", "phx_join", {"name": "old"}])
        assert phx.receive() == ok("1", "1", "room:r", {"room": "r", "name": "old"})
        phx.send(["3", "3", "room:r", "phx_join", {"name": "new"}])  # as phoenix.js rejoins after an error
        assert phx.receive() == ["1", "1", "room:r", "phx_close", {}]  # the old join, closed first
        assert phx.receive() == ok("3", "3", "room:r", {"room": "r", "name": "new"})
        # The old subscriber's leave ran (before the new join: it broadcast while only the watcher listened).
        assert watcher.receive() == [None, None, "room:r", "left", {"name": "old"}]
        # Frames naming the old join are ignored: no reply, no error, no effect. (Had they reached the
        # channel, they would have been answered before the echo that follows them in its mailbox.)
        phx.send(["1", "4", "room:r", "shout", {"text": "stale"}])
        phx.send(["1", "5", "room:r", "phx_leave", {}])
        phx.send(["3", "5b", "room:r", "echo", {"text": "barrier"}])
        assert phx.receive() == ok("3", "5b", "room:r", {"text": "barrier"})
        # The new join is the one that counts.
        phx.send(["3", "6", "room:r", "shout", {"text": "fresh"}])
        assert phx.receive() == [None, None, "room:r", "shout", {"from": "new", "text": "fresh"}]
        assert phx.receive() == ok("3", "6", "room:r", {"sent": True})
        assert watcher.receive() == [None, None, "room:r", "shout", {"from": "new", "text": "fresh"}]
        watcher.alive()


def test_a_join_repeated_with_the_same_join_ref_is_answered_again(phx: Phx) -> None:
    phx.send(["1", "1", "room:s", "phx_join", {}])
    assert phx.receive()[4]["status"] == "ok"
    phx.send(["1", "2", "room:s", "phx_join", {}])
    assert phx.receive() == ok("1", "2", "room:s", {})
    phx.alive()


@pytest.mark.parametrize(
    ("frame", "answer"),
    [
        ("not json", [None, None, "phoenix", "error", {"reason": "Invalid JSON."}]),
        ('{"topic":"room:a"}', [None, None, "phoenix", "error", {"reason": ARITY}]),
        ("[]", [None, None, "phoenix", "error", {"reason": ARITY}]),
        ('["1","9","room:a","echo"]', error(None, "9", "room:a", {"reason": ARITY})),
        ('["1","9","room:a","echo",{},6]', error(None, "9", "room:a", {"reason": ARITY})),
        ('["1","9",42,"echo",{}]', error(None, "9", "phoenix", {"reason": "The topic must be a non-empty string."})),
        ('["1","9","","echo",{}]', error(None, "9", "phoenix", {"reason": "The topic must be a non-empty string."})),
        ('["1","9","room:a",7,{}]', error(None, "9", "room:a", {"reason": "The event must be a non-empty string."})),
        ('["1","9","room:a","echo","x"]', error(None, "9", "room:a", {"reason": "The payload must be a JSON object."})),
        ('[{},"9","room:a","echo",{}]', error(None, "9", "room:a", {"reason": REFS})),
        ('["1",true,"room:a","echo",{}]', [None, None, "room:a", "error", {"reason": REFS}]),
        ('["1","' + "r" * 257 + '","room:a","echo",{}]', [None, None, "room:a", "error", {"reason": REFS}]),
        ('["' + "j" * 257 + '","9","room:a","echo",{}]', error(None, "9", "room:a", {"reason": REFS})),
        ('["1",9007199254740993,"room:a","echo",{}]', [None, None, "room:a", "error", {"reason": REFS}]),
        ('["1","9","room:a","echo",{"n":NaN}]', [None, None, "phoenix", "error", {"reason": "Invalid JSON."}]),
        ('["1","9","room:a","echo",{"n":Infinity}]', [None, None, "phoenix", "error", {"reason": "Invalid JSON."}]),
        (
            '["1","9","' + "x" * 10_000 + '","phx_join",{}]',
            error(None, "9", "x" * 256 + "…", {"reason": "unmatched topic"}),
        ),
    ],
)
def test_bad_frames_get_an_error_and_the_socket_and_others_carry_on(
    client: TestClient, phx: Phx, frame: str, answer: Frame
) -> None:
    with client.socket(URL) as other_session:
        other = Phx(other_session)
        other.send(["o", "1", "room:a", "phx_join", {}])
        assert other.receive()[4]["status"] == "ok"
        phx.send(["1", "1", "room:a", "phx_join", {}])
        assert phx.receive()[4]["status"] == "ok"
        phx.session.websocket.send_text(frame)
        assert phx.receive() == answer
        phx.send(["1", "2", "room:a", "shout", {"text": "after"}])
        assert phx.receive() == [None, None, "room:a", "shout", {"from": "anon", "text": "after"}]
        assert phx.receive() == ok("1", "2", "room:a", {"sent": True})
        assert other.receive() == [None, None, "room:a", "shout", {"from": "anon", "text": "after"}]
        phx.alive()
        other.alive()


def test_a_joined_channel_with_a_long_topic_gets_its_errors_under_its_whole_topic(phx: Phx) -> None:
    topic = "room:" + "7" * 300  # phoenix.js routes a reply by its topic: clipping it would lose the reply
    phx.send(["1", "1", topic, "phx_join", {}])
    assert phx.receive()[4]["status"] == "ok"
    phx.send(["1", "2", topic, "boom", {}])
    assert phx.receive() == error("1", "2", topic, {"reason": "boom!"})


def test_a_handler_result_that_is_not_strict_json_is_sent_as_null() -> None:
    class Numbers(Channel):
        topic = "numbers"

        @on_event("nan")
        async def nan(self) -> dict[str, float]:
            return {"n": float("nan"), "m": float("inf")}

    app = SocketAPI()
    app.register(Numbers)
    with TestClient(app) as local, local.socket(URL) as session:
        phx = Phx(session)
        phx.send(["1", "1", "numbers", "phx_join", {}])
        assert phx.receive()[4]["status"] == "ok"
        phx.send(["1", "2", "numbers", "nan", {}])
        text = session.websocket.receive_text()
        assert json.loads(text) == ok("1", "2", "numbers", {"n": None, "m": None})  # RFC 8259: no NaN in JSON


def test_a_history_channel_joins_and_broadcasts_as_any_other_over_phoenix() -> None:
    class Orders(Channel):
        topic = "orders:{shop}"
        history = 10

        @on_event("order")
        async def order(self, item: str) -> None:
            await self.broadcast("order", {"item": item})

    app = SocketAPI()
    app.register(Orders)
    with TestClient(app) as local, local.socket(URL) as session, local.socket("/") as v1:
        assert v1.subscribe("orders:1")["offset"] == 0  # protocol v1 sees the history's position
        phx = Phx(session)
        phx.send(["1", "1", "orders:1", "phx_join", {"since": {"offset": 0, "epoch": "x"}}])
        assert phx.receive() == ok("1", "1", "orders:1", {})  # no offset, no recovery: Phoenix has neither
        phx.send(["1", "2", "orders:1", "order", {"item": "tea"}])
        assert phx.receive() == [None, None, "orders:1", "order", {"item": "tea"}]
        assert v1.receive_broadcast("orders:1")["offset"] == 1  # the same broadcast, numbered, in v1
        phx.alive()


def test_an_error_that_answers_no_frame_is_an_error_event_on_the_topic_and_the_channel_stays_joined() -> None:
    class Shaky(Channel):
        topic = "shaky"

        async def after_join(self) -> None:
            raise RuntimeError("after_join failed")

        @on_event("ping")
        async def ping(self) -> str:
            return "pong"

    app = SocketAPI()
    app.register(Shaky)
    with TestClient(app) as local, local.socket(URL) as session:
        phx = Phx(session)
        phx.send(["4", "4", "shaky", "phx_join", {}])
        assert phx.receive() == ok("4", "4", "shaky", {})
        assert phx.receive() == ["4", None, "shaky", "error", {"reason": "after_join failed"}]  # not phx_error
        phx.send(["4", "5", "shaky", "ping", {}])
        assert phx.receive() == ok("4", "5", "shaky", "pong")


def test_a_binary_frame_gets_an_error(phx: Phx) -> None:
    phx.session.websocket.send_bytes(b'["1","1","room:a","phx_join",{}]')
    assert phx.receive() == [
        None,
        None,
        "phoenix",
        "error",
        {"reason": "Binary frames are not supported; send JSON arrays as text."},
    ]
    phx.alive()


@pytest.mark.parametrize("query", ["", "?vsn=1.0.0", "?vsn=2.0.0&vsn=1.0.0", "?vsn=3"])
def test_a_serializer_version_other_than_2_is_refused_at_the_handshake(client: TestClient, query: str) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/socket/websocket" + query):
        pass
    assert refused.value.code == 1008  # before accept: the HTTP handshake is answered 403


@pytest.mark.parametrize(
    "encode",
    [base64.b64encode, base64.urlsafe_b64encode],  # phoenix.js sends btoa()'s alphabet; base64url is the name
    ids=["btoa", "base64url"],
)
def test_the_phoenix_subprotocol_is_selected_and_the_token_and_params_reach_the_connect_hook(
    client: TestClient, encode: Callable[[bytes], bytes]
) -> None:
    secret = "s3cret>>>?"  # its base64 has '+' ('-' in base64url) and needs padding, which phoenix.js strips
    token = encode(secret.encode()).decode().rstrip("=")
    assert token in ("czNjcmV0Pj4+Pw", "czNjcmV0Pj4-Pw")
    offered = ["phoenix", f"base64url.bearer.phx.{token}"]
    with client.websocket_connect(URL + "&user=ada", subprotocols=offered) as websocket:
        assert websocket.accepted_subprotocol == "phoenix"
        phx = Phx(SocketSession(websocket))
        phx.send(["1", "1", "room:w", "phx_join", {}])
        assert phx.receive()[4]["status"] == "ok"
        phx.send(["1", "2", "room:w", "whoami", {}])
        assert phx.receive() == ok("1", "2", "room:w", {"token": secret, "params": {"vsn": "2.0.0", "user": "ada"}})
        phx.session.close()
    with client.websocket_connect(URL) as websocket:
        assert websocket.accepted_subprotocol is None  # nothing offered, nothing selected
        phx = Phx(SocketSession(websocket))
        phx.send(["1", "1", "room:w", "phx_join", {}])
        phx.receive()
        phx.send(["1", "2", "room:w", "whoami", {}])
        assert phx.receive() == ok("1", "2", "room:w", {"token": None, "params": {"vsn": "2.0.0"}})
        phx.session.close()
    forbidden = base64.urlsafe_b64encode(b"forbidden").decode().rstrip("=")
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(URL, subprotocols=["phoenix", f"base64url.bearer.phx.{forbidden}"]),
    ):
        pass
    assert refused.value.code == 1008


def test_the_phoenix_path_can_be_moved_or_turned_off() -> None:
    class Lobby(Channel):
        topic = "lobby"

    moved = SocketAPI(phoenix_path="/phx/websocket")
    moved.register(Lobby)
    with TestClient(moved) as client, client.socket("/phx/websocket?vsn=2.0.0") as session:
        phx = Phx(session)
        phx.send(["1", "1", "lobby", "phx_join", {}])
        assert phx.receive() == ok("1", "1", "lobby", {})
    off = SocketAPI(phoenix_path=None)
    off.register(Lobby)
    with (
        TestClient(off) as client,
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/socket/websocket?vsn=2.0.0"),
    ):
        pass
