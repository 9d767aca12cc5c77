"""SPEC section 1, row by row, through the test client: the exact frames a 0.2.0 client sees."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from socketapi import SocketAPI
from socketapi.testclient import TestClient

app = SocketAPI()


@app.action("add_numbers")
async def add_numbers(a: int, b: int) -> int:
    return a + b


@app.action("nothing")
async def nothing() -> None:
    return None


@app.action("echo")
async def echo(value: object = None) -> object:
    return value


@app.channel("chat")
async def chat(message: str = "Welcome") -> dict[str, str]:
    return {"message": message}


@app.channel("news", default_response=True)
async def news(headline: str = "Nothing yet") -> dict[str, str]:
    return {"headline": headline}


@app.action("send_message")
async def send_message(message: str) -> None:
    await chat(message=message)


class Point(BaseModel):
    x: int
    y: int


@app.action("points")
async def points() -> dict[str, list[Point]]:
    return {"points": [Point(x=1, y=2), Point(x=3, y=4)]}


@app.action("boom")
async def boom() -> None:
    raise ValueError("something broke")


client = TestClient(app)


def test_action_completed_with_result() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "add_numbers", "data": {"a": 5, "b": 3}})
        assert ws.receive_json() == {"type": "action", "channel": "add_numbers", "status": "completed", "data": 8}


def test_action_data_is_optional() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "echo"})
        assert ws.receive_json() == {"type": "action", "channel": "echo", "status": "completed"}


def test_action_returning_none_has_no_data_key() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "nothing", "data": {}})
        assert ws.receive_json() == {"type": "action", "channel": "nothing", "status": "completed"}


@pytest.mark.parametrize("falsy", [0, "", [], False, {}])
def test_falsy_results_are_sent(falsy: object) -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "echo", "data": {"value": falsy}})
        assert ws.receive_json() == {"type": "action", "channel": "echo", "status": "completed", "data": falsy}


def test_models_nested_in_results_are_dumped() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "points"})
        assert ws.receive_json()["data"] == {"points": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}


def test_subscribe_answers_subscribed_without_initial_data() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "chat"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "chat"}
        ws.send_json({"type": "action", "channel": "nothing"})  # the next frame is the action's, not data
        assert ws.receive_json() == {"type": "action", "channel": "nothing", "status": "completed"}


def test_default_response_sends_initial_data_after_subscribed() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "news"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "news"}
        assert ws.receive_json() == {"type": "data", "channel": "news", "data": {"headline": "Nothing yet"}}


def test_broadcast_reaches_every_subscriber() -> None:
    with client.websocket_connect("/") as alice, client.websocket_connect("/") as bob:
        for ws in (alice, bob):
            ws.send_json({"type": "subscribe", "channel": "chat"})
            assert ws.receive_json() == {"type": "subscribed", "channel": "chat"}
        bob.send_json({"type": "action", "channel": "send_message", "data": {"message": "Hello everyone!"}})
        expected = {"type": "data", "channel": "chat", "data": {"message": "Hello everyone!"}}
        assert alice.receive_json() == expected
        received = [bob.receive_json(), bob.receive_json()]
        assert expected in received
        assert {"type": "action", "channel": "send_message", "status": "completed"} in received


def test_unsubscribe_answers_unsubscribed_and_stops_broadcasts() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "chat"})
        ws.receive_json()
        ws.send_json({"type": "unsubscribe", "channel": "chat"})
        assert ws.receive_json() == {"type": "unsubscribed", "channel": "chat"}
        ws.send_json({"type": "action", "channel": "send_message", "data": {"message": "anyone?"}})
        assert ws.receive_json() == {"type": "action", "channel": "send_message", "status": "completed"}
        ws.send_json({"type": "action", "channel": "nothing"})
        assert ws.receive_json() == {"type": "action", "channel": "nothing", "status": "completed"}


def test_unsubscribe_when_not_subscribed_answers_unsubscribed() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "unsubscribe", "channel": "chat"})
        assert ws.receive_json() == {"type": "unsubscribed", "channel": "chat"}


def test_subscribing_twice_keeps_one_subscription() -> None:
    with client.websocket_connect("/") as ws:
        for _ in range(2):
            ws.send_json({"type": "subscribe", "channel": "chat"})
            assert ws.receive_json() == {"type": "subscribed", "channel": "chat"}
        ws.send_json({"type": "action", "channel": "send_message", "data": {"message": "once"}})
        frames = [ws.receive_json(), ws.receive_json()]
        ws.send_json({"type": "action", "channel": "nothing"})
        frames.append(ws.receive_json())
        assert frames.count({"type": "data", "channel": "chat", "data": {"message": "once"}}) == 1
        assert frames[-1] == {"type": "action", "channel": "nothing", "status": "completed"}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"channel": "chat"}, "Message type is required."),
        ({"type": "", "channel": "chat"}, "Message type is required."),
        ({"type": "subscribe"}, "Channel is required."),
        ({"type": "action", "channel": ""}, "Channel is required."),
        ({"type": "publish", "channel": "chat"}, "Unknown message type: publish."),
        ({"type": "action", "channel": "missing"}, "Action 'missing' not found."),
        ({"type": "subscribe", "channel": "missing"}, "Channel 'missing' not found."),
        (
            {"type": "action", "channel": "add_numbers", "data": {"a": "x", "b": 1}},
            "Invalid parameters for action 'add_numbers'",
        ),
        ({"type": "action", "channel": "add_numbers", "data": {"a": 1}}, "Invalid parameters for action 'add_numbers'"),
        ({"type": "action", "channel": "boom"}, "something broke"),
    ],
)
def test_error_messages_are_exact(frame: dict[str, object], message: str) -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json(frame)
        assert ws.receive_json() == {"type": "error", "message": message}
        ws.send_json({"type": "action", "channel": "add_numbers", "data": {"a": 1, "b": 1}})
        assert ws.receive_json()["data"] == 2  # the connection stays open and usable
