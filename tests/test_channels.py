"""SPEC section 3: the class API, through the ChannelTest-style helpers of socketapi.testclient."""

from __future__ import annotations

from typing import Any

import pytest

from socketapi import Channel, JoinRefused, SocketAPI, on_event
from socketapi.testclient import ErrorFrameReceived, SocketSession, TestClient

left: list[tuple[str, str, str]] = []  # (topic, nick, reason), appended by RoomChannel.leave


class RoomChannel(Channel):
    topic = "room:{room_id}"
    intercept = frozenset({"secret"})

    async def join(self, room_id: int, nick: str, password: str = "") -> dict[str, Any]:
        if room_id == 0:
            raise JoinRefused("Room 0 is closed.", data={"reason": "closed"})
        if nick == "crash":
            raise RuntimeError("join blew up")
        self.nick = nick
        self.count = 0
        return {"welcome": nick, "room": room_id}

    @on_event("shout")
    async def shout(self, text: str) -> dict[str, bool]:
        await self.broadcast("shout", {"from": self.nick, "text": text})
        return {"sent": True}

    @on_event("whisper")
    async def whisper(self, text: str) -> None:
        await self.broadcast_from("whisper", {"from": self.nick, "text": text})

    @on_event("count")
    async def count_up(self) -> int:
        self.count += 1
        return self.count

    @on_event("me")
    async def me(self) -> dict[str, Any]:
        await self.push("me", {"nick": self.nick, "params": self.params, "topic": self.topic_name})
        return None  # type: ignore[return-value]

    @on_event("secret")
    async def secret(self, text: str) -> None:
        await self.broadcast("secret", {"text": text, "from": self.nick})

    async def handle_in(self, event: str, payload: dict[str, Any]) -> Any:
        if event == "raw":
            return {"echo": payload}
        if event == "fail":
            raise ValueError("handler failed")
        return await super().handle_in(event, payload)

    async def handle_out(self, event: str, payload: Any) -> None:
        if payload["from"] == self.nick:
            return  # the sender never sees its own secret
        await self.push(event, {**payload, "text": payload["text"].upper()})

    async def leave(self, reason: str) -> None:
        left.append((self.topic_name, self.nick, reason))


app = SocketAPI()
app.register(RoomChannel)
client = TestClient(app)


@pytest.fixture(autouse=True)
def _clear_left() -> None:
    left.clear()


def test_join_reply_comes_as_data_on_subscribed() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "room:1", "data": {"nick": "ann"}})
        assert ws.receive_json() == {"type": "subscribed", "channel": "room:1", "data": {"welcome": "ann", "room": 1}}


def test_join_refused_reports_the_reason_and_does_not_subscribe() -> None:
    with client.socket() as socket:
        with pytest.raises(ErrorFrameReceived) as refused:
            socket.join("room:0", {"nick": "ann"})
        assert refused.value.frame == {
            "type": "error",
            "message": "Room 0 is closed.",
            "data": {"reason": "closed"},
            "ref": 1,
            "code": "join_refused",
            "channel": "room:0",
        }
        ref = socket.push("room:0", "count")
        with pytest.raises(ErrorFrameReceived, match="Not subscribed to channel 'room:0'"):
            socket.receive_reply(ref)
    assert left == []  # leave runs only for joins that succeeded


def test_join_raising_any_exception_refuses_with_its_text() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "room:1", "data": {"nick": "crash"}})
        assert ws.receive_json() == {"type": "error", "message": "join blew up"}


def test_topic_and_join_parameters_are_validated() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "room:abc", "data": {"nick": "ann"}})
        assert ws.receive_json() == {"type": "error", "message": "Invalid parameters for action 'room:abc'"}
        ws.send_json({"type": "subscribe", "channel": "room:1", "data": {}})
        assert ws.receive_json() == {"type": "error", "message": "Invalid parameters for action 'room:1'"}
        ws.send_json({"type": "subscribe", "channel": "room:1", "data": {"nick": "ann", "room_id": 99}})
        assert ws.receive_json()["data"] == {"welcome": "ann", "room": 1}  # the topic wins over data


def test_params_hold_validated_topic_parameters() -> None:
    with client.socket() as socket:
        socket.join("room:7", {"nick": "ann"})
        socket.push("room:7", "me")
        assert socket.receive_push("room:7", "me") == {"nick": "ann", "params": {"room_id": 7}, "topic": "room:7"}


def test_handle_in_reply_carries_event_status_and_ref() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "room:1", "data": {"nick": "ann"}})
        ws.receive_json()
        ws.send_json({"type": "event", "channel": "room:1", "event": "raw", "data": {"x": 1}, "ref": "r1"})
        assert ws.receive_json() == {
            "type": "reply",
            "channel": "room:1",
            "event": "raw",
            "status": "ok",
            "data": {"echo": {"x": 1}},
            "ref": "r1",
        }


def test_state_is_per_subscriber_and_kept_between_events() -> None:
    with client.socket() as ann, client.socket() as bob:
        ann.join("room:1", {"nick": "ann"})
        bob.join("room:1", {"nick": "bob"})
        assert [ann.receive_reply(ann.push("room:1", "count")) for _ in range(3)] == [1, 2, 3]
        assert bob.receive_reply(bob.push("room:1", "count")) == 1


def test_broadcast_reaches_all_subscribers_including_the_sender() -> None:
    with client.socket() as ann, client.socket() as bob, client.socket() as eve:
        ann.join("room:1", {"nick": "ann"})
        bob.join("room:1", {"nick": "bob"})
        eve.join("room:2", {"nick": "eve"})
        assert ann.receive_reply(ann.push("room:1", "shout", {"text": "hi"})) == {"sent": True}
        assert ann.receive_push("room:1", "shout") == {"from": "ann", "text": "hi"}
        assert bob.receive_push("room:1", "shout") == {"from": "ann", "text": "hi"}
        eve.timeout = 0.3
        with pytest.raises(AssertionError, match="no frame"):
            eve.receive_push("room:1")


def test_broadcast_from_skips_the_sender() -> None:
    with client.socket() as ann, client.socket() as bob:
        ann.join("room:1", {"nick": "ann"})
        bob.join("room:1", {"nick": "bob"})
        ann.push("room:1", "whisper", {"text": "psst"})
        assert bob.receive_push("room:1", "whisper") == {"from": "ann", "text": "psst"}
        # Ann's next frame is the reply to a later event: the whisper never came back to her.
        assert ann.receive_reply(ann.push("room:1", "count")) == 1
        assert all(f.get("event") != "whisper" for f in ann.pending)


def test_intercepted_events_go_through_handle_out_per_subscriber() -> None:
    with client.socket() as ann, client.socket() as bob:
        ann.join("room:1", {"nick": "ann"})
        bob.join("room:1", {"nick": "bob"})
        ann.push("room:1", "secret", {"text": "psst"})
        assert bob.receive_push("room:1", "secret") == {"text": "PSST", "from": "ann"}
        assert ann.receive_reply(ann.push("room:1", "count")) == 1
        assert all(f.get("event") != "secret" for f in ann.pending)


def test_unknown_event_and_handler_errors_are_reported_and_the_channel_lives_on() -> None:
    with client.socket() as socket:
        socket.join("room:1", {"nick": "ann"})
        with pytest.raises(ErrorFrameReceived, match="Event 'dance' is not handled by channel 'room:1'") as e:
            socket.receive_reply(socket.push("room:1", "dance"))
        assert e.value.code == "unknown_event"
        with pytest.raises(ErrorFrameReceived, match="handler failed") as e:
            socket.receive_reply(socket.push("room:1", "fail"))
        assert e.value.code == "handler_error"
        with pytest.raises(ErrorFrameReceived, match="Invalid parameters for event 'shout'"):
            socket.receive_reply(socket.push("room:1", "shout", {"text": ["not", "a", "string"]}))
        assert socket.receive_reply(socket.push("room:1", "count")) == 1


def test_event_for_a_channel_not_joined() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "event", "channel": "room:1", "event": "count"})
        assert ws.receive_json() == {"type": "error", "message": "Not subscribed to channel 'room:1'."}


def test_leave_runs_on_unsubscribe_with_reason_left() -> None:
    with client.socket() as socket:
        socket.join("room:1", {"nick": "ann"})
        socket.leave("room:1")
        assert left == [("room:1", "ann", "left")]
        ref = socket.push("room:1", "count")
        with pytest.raises(ErrorFrameReceived, match="Not subscribed"):
            socket.receive_reply(ref)


def test_leave_runs_once_per_joined_channel_on_disconnect() -> None:
    with client.socket() as socket:
        socket.join("room:1", {"nick": "ann"})
        socket.join("room:2", {"nick": "ann"})
        socket.join("room:2", {"nick": "ann"})  # a repeated subscribe keeps one instance
    assert sorted(left) == [("room:1", "ann", "closed"), ("room:2", "ann", "closed")]


def test_rejoin_after_leave_gets_a_fresh_instance() -> None:
    with client.socket() as socket:
        socket.join("room:1", {"nick": "ann"})
        assert socket.receive_reply(socket.push("room:1", "count")) == 1
        socket.leave("room:1")
        socket.join("room:1", {"nick": "ann"})
        assert socket.receive_reply(socket.push("room:1", "count")) == 1


def test_socket_session_helpers_fail_instead_of_hanging() -> None:
    with client.socket(timeout=0.2) as socket:
        assert isinstance(socket, SocketSession)
        with pytest.raises(AssertionError, match=r"no frame within 0.2s"):
            socket.receive_push("room:1")
        # The read that timed out is still the one waiting: the next frame goes to the next wait, once.
        socket.join("room:1", {"nick": "ann"})
        assert socket.receive_reply(socket.push("room:1", "count")) == 1
        assert socket.pending == []
