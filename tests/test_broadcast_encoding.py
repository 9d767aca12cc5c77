"""A broadcast is encoded once, whatever the number of subscribers."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from socketapi import Channel, SocketAPI
from socketapi.pubsub import message
from socketapi.testclient import TestClient
from socketapi.wire import JSONWire


class Room(Channel):
    topic = "room"


def test_one_encoding_and_one_frame_text_for_every_subscriber(monkeypatch: pytest.MonkeyPatch) -> None:
    payload_encodings: list[object] = []
    frame_encodings: list[object] = []
    real_to_json, real_broadcast = message.to_json, JSONWire.broadcast
    monkeypatch.setattr(message, "to_json", lambda obj, **kw: payload_encodings.append(obj) or real_to_json(obj, **kw))
    monkeypatch.setattr(JSONWire, "broadcast", lambda self, m: frame_encodings.append(m) or real_broadcast(self, m))
    app = SocketAPI()
    app.register(Room)
    client = TestClient(app)
    with ExitStack() as stack:
        sockets = [stack.enter_context(client.socket()) for _ in range(20)]
        for socket in sockets:
            socket.join("room")
        payload_encodings.clear()

        async def send() -> None:
            await app.broadcast("room", {"n": 1}, event="tick")

        sockets[0].websocket.portal.call(send)
        assert [s.receive_push("room", "tick") for s in sockets] == [{"n": 1}] * 20
    payloads = [obj for obj in payload_encodings if obj == {"n": 1}]  # (the broker envelope's header aside)
    assert payloads == [{"n": 1}]  # the payload: once, at the publisher
    assert len(frame_encodings) == 1  # the frame text: once, shared by all twenty subscribers


class TaggedWire(JSONWire):
    """A second wire format for the test: v1 frames whose broadcasts carry a marker."""

    def __init__(self) -> None:
        self.encoded: list[message.Broadcast] = []

    def broadcast(self, m: message.Broadcast) -> str:
        self.encoded.append(m)
        return super().broadcast(m)[:-1] + ',"wire":"tagged"}'


def test_each_path_speaks_its_own_wire_format_and_a_broadcast_is_encoded_once_per_format() -> None:
    app = SocketAPI()
    app.register(Room)
    tagged = TaggedWire()
    app.add_socket("/tagged", tagged)
    with pytest.raises(ValueError, match="already served"):
        app.add_socket("/tagged", JSONWire())
    client = TestClient(app)
    with ExitStack() as stack:
        plain = [stack.enter_context(client.socket("/")) for _ in range(3)]
        other = [stack.enter_context(client.socket("/tagged")) for _ in range(3)]
        for socket in plain + other:
            socket.join("room")

        async def send() -> None:
            await app.broadcast("room", {"n": 1})

        plain[0].websocket.portal.call(send)
        frames = [s.receive_matching(lambda f: f.get("type") == "data") for s in plain + other]
    assert frames[:3] == [{"type": "data", "channel": "room", "data": {"n": 1}}] * 3
    assert frames[3:] == [{"type": "data", "channel": "room", "data": {"n": 1}, "wire": "tagged"}] * 3
    assert len(tagged.encoded) == 1  # once for the three subscribers speaking it
