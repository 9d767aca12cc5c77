"""The JSON wire (SPEC section 1) at its edges: what each bad frame is told, and every frame's exact text.

The texts are the protocol: a client parses them, so a renamed key or a missing field breaks
clients. Decoding is checked through :class:`JSONWire` directly (what it raises carries the
error, and the ``ref``/``channel`` the server echoes), and once end to end for the echo.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from socketapi import SocketAPI
from socketapi.exceptions import FrameError, InvalidFrame, UnknownMessageType
from socketapi.pubsub import Broadcast
from socketapi.testclient import TestClient
from socketapi.types import StreamPosition
from socketapi.wire import JSONWire
from socketapi.wire.base import DecodeError, Inbound

wire = JSONWire()
BAD_SINCE = '\'since\' must be an object {"offset": integer >= 0, "epoch": string}.'
REF_TOO_LONG = "'ref' is too long: at most 256 characters, or an integer up to 2^53 - 1."


def refused(frame: Any) -> tuple[str, str, Any, Any]:
    """What decoding ``frame`` (a JSON value, or raw text) raises: (error code, message, ref, channel)."""
    raw = frame if isinstance(frame, (str, bytes)) else json.dumps(frame)
    with pytest.raises(DecodeError) as caught:
        wire.decode(raw)
    error = caught.value
    return error.error.code, error.error.message, error.ref, error.channel


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b"{}", ("invalid_frame", "Binary frames are not supported; send JSON as text.", None, None)),
        ("[1]", ("invalid_frame", "A message must be a JSON object.", None, None)),
        ({"type": "ping", "ref": True}, ("invalid_frame", "'ref' must be a string or an integer.", None, None)),
        ({"type": "ping", "ref": 1.5}, ("invalid_frame", "'ref' must be a string or an integer.", None, None)),
        ({"type": "ping", "ref": "r" * 257}, ("invalid_frame", REF_TOO_LONG, None, None)),
        ({"type": "ping", "ref": 2**53}, ("invalid_frame", REF_TOO_LONG, None, None)),
        ({"type": "ping", "ref": -(2**53)}, ("invalid_frame", REF_TOO_LONG, None, None)),
        ({"ref": 1, "channel": "c"}, ("invalid_frame", "Message type is required.", 1, "c")),
        ({"ref": 1, "channel": 5, "type": ""}, ("invalid_frame", "Message type is required.", 1, None)),
        ({"ref": 1, "type": "action"}, ("invalid_frame", "Channel is required.", 1, None)),
        ({"ref": 1, "type": "action", "channel": ""}, ("invalid_frame", "Channel is required.", 1, None)),
        ({"ref": 1, "type": "action", "channel": 5}, ("invalid_frame", "'channel' must be a string.", 1, None)),
        ({"ref": 1, "type": "nope", "channel": "c"}, ("unknown_type", "Unknown message type: nope.", 1, "c")),
        ({"ref": 1, "type": 5, "channel": "c"}, ("unknown_type", "Unknown message type: 5.", 1, "c")),
        (
            {"ref": 1, "type": "action", "channel": "c", "data": []},
            ("invalid_frame", "'data' must be a JSON object.", 1, "c"),
        ),
        ({"ref": 1, "type": "event", "channel": "c"}, ("invalid_frame", "Event is required.", 1, "c")),
        ({"ref": 1, "type": "event", "channel": "c", "event": ""}, ("invalid_frame", "Event is required.", 1, "c")),
        ({"ref": 1, "type": "event", "channel": "c", "event": 5}, ("invalid_frame", "Event is required.", 1, "c")),
    ],
)
def test_each_bad_frame_is_told_what_is_wrong_with_what_could_be_read_of_it(frame: Any, expected: Any) -> None:
    assert refused(frame) == expected


@pytest.mark.parametrize(
    "since",
    [
        [0, "e"],
        {"offset": 0},
        {"offset": 0, "epoch": "e", "extra": 1},
        {"offset": True, "epoch": "e"},
        {"offset": -1, "epoch": "e"},
        {"offset": 2**63, "epoch": "e"},
        {"offset": "0", "epoch": "e"},
        {"offset": 0, "epoch": 5},
        {"offset": 0, "epoch": "e" * 257},
    ],
)
def test_a_bad_since_is_refused_with_the_subscribes_ref_and_channel(since: Any) -> None:
    frame = {"type": "subscribe", "channel": "news", "ref": "s", "since": since}
    assert refused(frame) == ("invalid_frame", BAD_SINCE, "s", "news")


def test_good_frames_decode_to_what_they_say() -> None:
    assert wire.decode('{"type": "ping"}') == Inbound("ping")
    assert wire.decode('{"type": "ping", "ref": -9007199254740991}') == Inbound("ping", ref=-(2**53 - 1))
    assert wire.decode(json.dumps({"type": "ping", "ref": "r" * 256})).ref == "r" * 256
    assert wire.decode('{"type": "action", "channel": "add", "ref": 9007199254740991}') == Inbound(
        "action", "add", {}, 2**53 - 1
    )
    assert wire.decode('{"type": "event", "channel": "c", "event": "e", "data": {"x": 1}}') == Inbound(
        "event", "c", {"x": 1}, None, "e"
    )
    edge = {"offset": 2**63 - 1, "epoch": "e" * 256}
    assert wire.decode(json.dumps({"type": "subscribe", "channel": "c", "since": edge})).since == StreamPosition(
        2**63 - 1, "e" * 256
    )
    assert wire.decode('{"type": "subscribe", "channel": "c", "since": {"offset": 0, "epoch": ""}}').since == (
        StreamPosition(0, "")
    )
    assert wire.decode('{"type": "unsubscribe", "channel": "c", "since": 5}').since is None  # only a subscribe's


def test_every_frame_the_server_sends_has_its_exact_text() -> None:
    assert wire.action_result("add", None, None) == '{"type":"action","channel":"add","status":"completed"}'
    assert wire.action_result("add", 3, 0) == '{"type":"action","channel":"add","status":"completed","data":3,"ref":0}'
    assert wire.subscribed("t", None, None) == '{"type":"subscribed","channel":"t"}'
    assert wire.subscribed("t", {"a": 1}, "r", position=StreamPosition(7, "ep"), recovered=False) == (
        '{"type":"subscribed","channel":"t","data":{"a":1},"offset":7,"epoch":"ep","recovered":false,"ref":"r"}'
    )
    assert wire.unsubscribed("t", None) == '{"type":"unsubscribed","channel":"t"}'
    assert wire.unsubscribed("t", 0) == '{"type":"unsubscribed","channel":"t","ref":0}'
    assert wire.closed("t", None) is None
    assert wire.reply("t", "e", None, None) == '{"type":"reply","channel":"t","event":"e","status":"ok","data":null}'
    assert wire.reply("t", "e", [1], "r") == (
        '{"type":"reply","channel":"t","event":"e","status":"ok","data":[1],"ref":"r"}'
    )
    assert wire.push("t", None, None) == '{"type":"data","channel":"t","data":null}'
    assert wire.push("t", "e", {"x": 1}) == '{"type":"data","channel":"t","event":"e","data":{"x":1}}'
    assert wire.pong(None) == '{"type":"pong"}'
    assert wire.pong(0) == '{"type":"pong","ref":0}'
    assert wire.refuse({}) is None
    assert wire.subprotocols == ()


def test_broadcast_frames_splice_the_payload_encoded_once() -> None:
    plain = Broadcast.encode("t", {"x": [1, "é"]})
    assert json.loads(wire.broadcast(plain)) == {"type": "data", "channel": "t", "data": {"x": [1, "é"]}}
    assert wire.broadcast(plain).startswith('{"type":"data","channel":"t","data":')
    named = Broadcast.encode('a "quoted" topic', None, "e")
    assert wire.broadcast(named) == '{"type":"data","channel":"a \\"quoted\\" topic","event":"e","data":null}'
    recorded = Broadcast.encode("t", 1, "e")
    recorded.offset = 0
    assert wire.broadcast(recorded) == '{"type":"data","channel":"t","event":"e","offset":0,"data":1}'


def test_error_frames_carry_code_and_channel_only_with_a_ref() -> None:
    failure = FrameError("It broke.", data={"why": "x"})
    assert wire.error(failure) == '{"type":"error","message":"It broke.","data":{"why":"x"}}'
    assert wire.error(failure, channel="t") == '{"type":"error","message":"It broke.","data":{"why":"x"}}'
    assert wire.error(InvalidFrame("Bad."), ref=0) == '{"type":"error","message":"Bad.","ref":0,"code":"invalid_frame"}'
    assert wire.error(UnknownMessageType("x"), ref="r", channel="c" * 300) == json.dumps(
        {
            "type": "error",
            "message": "Unknown message type: x.",
            "ref": "r",
            "code": "unknown_type",
            "channel": "c" * 256 + "…",
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def test_a_bad_frame_is_answered_on_the_socket_with_its_ref_and_channel() -> None:
    with TestClient(SocketAPI()).socket() as ws:
        ws.send({"type": "event", "channel": "room", "ref": "e"})
        assert ws.receive() == {
            "type": "error",
            "message": "Event is required.",
            "ref": "e",
            "code": "invalid_frame",
            "channel": "room",
        }
        ws.send({"type": "ping", "ref": 2**53})
        assert ws.receive() == {"type": "error", "message": REF_TOO_LONG}
