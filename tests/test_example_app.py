"""The example app works as its README and docs say."""

from __future__ import annotations

from example_app import app
from socketapi.testclient import TestClient

client = TestClient(app)


def test_seed_example_frames() -> None:
    with client.websocket_connect("/") as ws, client.websocket_connect("/") as other:
        ws.send_json({"type": "action", "channel": "add_numbers", "data": {"a": 5, "b": 3}})
        assert ws.receive_json() == {"type": "action", "channel": "add_numbers", "status": "completed", "data": 8}
        other.send_json({"type": "subscribe", "channel": "chat"})
        assert other.receive_json() == {"type": "subscribed", "channel": "chat"}
        ws.send_json({"type": "action", "channel": "send_message", "data": {"message": "Hello everyone!"}})
        assert ws.receive_json() == {"type": "action", "channel": "send_message", "status": "completed"}
        assert other.receive_json() == {"type": "data", "channel": "chat", "data": {"message": "Hello everyone!"}}


def test_room_channel_and_multiply() -> None:
    with client.socket() as ann, client.socket() as bob:
        assert ann.call("multiply", {"a": 6, "b": 7}) == 42
        assert ann.join("room:1", {"nick": "ann"}) == {"welcome": "ann", "room": 1}
        assert bob.join("room:1", {"nick": "bob"}) == {"welcome": "bob", "room": 1}
        assert ann.receive_push("room:1", "joined") == {"nick": "bob"}
        assert bob.receive_reply(bob.push("room:1", "shout", {"text": "hi"})) == {"sent": 1}
        assert ann.receive_push("room:1", "shout") == {"from": "bob", "text": "hi"}
        bob.leave("room:1")
        assert ann.receive_push("room:1", "left") == {"nick": "bob", "reason": "left"}
