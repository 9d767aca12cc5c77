"""A broadcast is encoded once, whatever the number of subscribers."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from socketapi import Channel, SocketAPI
from socketapi.protocol import JSONWire
from socketapi.pubsub import message
from socketapi.testclient import TestClient


class Room(Channel):
    topic = "room"


def test_one_encoding_and_one_frame_text_for_every_subscriber(monkeypatch: pytest.MonkeyPatch) -> None:
    payload_encodings: list[object] = []
    frame_encodings: list[object] = []
    real_to_json, real_broadcast = message.to_json, JSONWire.broadcast
    monkeypatch.setattr(message, "to_json", lambda obj: payload_encodings.append(obj) or real_to_json(obj))
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
