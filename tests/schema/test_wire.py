"""Frames recorded on a real socket validate against the document's schemas: it describes the wire as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from socketapi.schema import asyncapi_document, describe
from socketapi.testclient import SocketSession, TestClient
from tests.apps import every_handler

from .node_support import HERE, run_node


class Recorder:
    """Sends frames and records each frame received with the document message it must match."""

    def __init__(self, socket: SocketSession, doc: dict[str, Any]) -> None:
        self.socket = socket
        self.doc = doc
        self.frames: list[dict[str, Any]] = []
        self.ref = 0

    def message(self, address: str | None, key: str) -> str:
        for cid, channel in self.doc["channels"].items():
            if channel["address"] == address and key in channel["messages"]:
                return f"#/channels/{cid}/messages/{key}"
        raise AssertionError(f"no message {key!r} on {address!r}")

    def expect(self, address: str | None, key: str, match: dict[str, Any]) -> dict[str, Any]:
        frame = self.socket.receive_matching(lambda f: all(f.get(k) == v for k, v in match.items()), str(match))
        self.frames.append({"message": self.message(address, key), "frame": frame})
        return frame

    def send(self, address: str | None, key: str, frame: dict[str, Any], *, ref: bool = True) -> int:
        self.ref += 1
        if ref:
            frame = {**frame, "ref": self.ref}
        self.frames.append({"message": self.message(address, key), "frame": frame})
        self.socket.send(frame)
        return self.ref


def test_recorded_frames_match_the_document(tmp_path: Path) -> None:
    app = every_handler.app
    doc = asyncapi_document(describe(app.endpoints))
    with TestClient(app) as client, client.socket() as socket:
        r = Recorder(socket, doc)
        order = {"order": {"items": [{"name": "tea", "qty": 2, "tags": [{"label": "hot"}]}]}, "user": {"token": "t"}}
        ref = r.send("place_order", "call", {"type": "action", "channel": "place_order", "data": order})
        r.expect("place_order", "result", {"ref": ref})
        ref = r.send("ping_me", "call", {"type": "action", "channel": "ping_me"})
        assert "data" not in r.expect("ping_me", "result", {"ref": ref})
        ref = r.send("tree", "call", {"type": "action", "channel": "tree", "data": {"root": {"name": "a"}}})
        r.expect("tree", "result", {"ref": ref})
        # A call the schema refuses too (not recorded): its error frame is.
        socket.send({"type": "action", "channel": "math.multiply", "data": {"a": "x"}, "ref": "bad"})
        assert r.expect("math.multiply", "error", {"ref": "bad"})["code"] == "invalid_params"
        ref = r.send("lookup", "call", {"type": "action", "channel": "lookup", "data": {"keys": {"a": [1]}}})
        r.expect("lookup", "result", {"ref": ref})

        ref = r.send("room:{room_id}", "subscribe", {"type": "subscribe", "channel": "room:5", "data": {"nick": "ann"}})
        assert r.expect("room:{room_id}", "subscribed", {"ref": ref})["data"] == {"welcome": "ann", "members": 1}
        ref = r.send(
            "room:{room_id}",
            "event.shout",
            {"type": "event", "channel": "room:5", "event": "shout", "data": {"text": "hi"}},
        )
        r.expect("room:{room_id}", "reply.shout", {"ref": ref})
        ref = r.send(
            "room:{room_id}",
            "event.order",
            {"type": "event", "channel": "room:5", "event": "order", "data": {"order": {"items": []}}},
        )
        r.expect("room:{room_id}", "reply.order", {"ref": ref})

        data = {"currency": "EUR"}
        ref = r.send("prices/{symbol}", "subscribe", {"type": "subscribe", "channel": "prices/ACME", "data": data})
        r.expect("prices/{symbol}", "subscribed", {"ref": ref})
        r.expect("prices/{symbol}", "data", {"type": "data", "channel": "prices/ACME"})  # the initial data

        ref = r.send("team:{team_id}", "subscribe", {"type": "subscribe", "channel": "team:3", "data": {"user": "ann"}})
        assert {"offset", "epoch"} <= r.expect("team:{team_id}", "subscribed", {"ref": ref}).keys()
        state = r.expect("team:{team_id}", "data.presence_state", {"event": "presence_state"})
        diff = r.expect("team:{team_id}", "data.presence_diff", {"event": "presence_diff"})
        assert "ann" in state["data"] or "ann" in diff["data"]["joins"]
        ref = r.send(
            "team:{team_id}",
            "event.post",
            {"type": "event", "channel": "team:3", "event": "post", "data": {"text": "x"}},
        )
        assert "offset" in r.expect("team:{team_id}", "push", {"event": "post"})
        r.expect("team:{team_id}", "reply.post", {"ref": ref})

        ref = r.send("ticker", "subscribe", {"type": "subscribe", "channel": "ticker"})
        r.expect("ticker", "subscribed", {"ref": ref})
        ref = r.send("ticker", "subscribe", {"type": "subscribe", "channel": "ticker"})  # again: same answer
        r.expect("ticker", "subscribed", {"ref": ref})

        ref = r.send(None, "ping", {"type": "ping"})
        r.expect(None, "pong", {"ref": ref})
        r.send(None, "ping", {"type": "ping"}, ref=False)
        r.expect(None, "pong", {"type": "pong"})
        socket.send({"type": "nope", "channel": "x"})
        r.expect(None, "error", {"type": "error"})
        ref = r.send("room:{room_id}", "unsubscribe", {"type": "unsubscribe", "channel": "room:5"})
        r.expect("room:{room_id}", "unsubscribed", {"ref": ref})

    (tmp_path / "doc.json").write_text(json.dumps(doc))
    (tmp_path / "frames.json").write_text(json.dumps(r.frames))
    result = run_node(str(HERE / "check_frames.mjs"), str(tmp_path / "doc.json"), str(tmp_path / "frames.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["checked"] == len(r.frames) >= 35
