"""The Action class API, and what a handler can know of its socket."""

from __future__ import annotations

from typing import Annotated, Any

from socketapi import Action, Channel, Depends, SocketAPI
from socketapi.testclient import TestClient


class Multiply(Action):
    name = "multiply"

    async def handle(self, a: int, b: int = 2) -> int:
        return a * b


async def pagination(page: int = 1, size: int = 10) -> dict[str, int]:
    return {"offset": (page - 1) * size, "limit": size}


class Search(Action):
    name = "search"

    async def handle(self, query: str, paging: Annotated[dict[str, int], Depends(pagination)]) -> dict[str, Any]:
        return {"query": query, **paging}


class Remember(Action):
    """Per-connection state lives in assigns, shared by every action and channel of the socket."""

    name = "remember"

    async def handle(self, key: str, value: Any) -> dict[str, Any]:
        self.assigns[key] = value
        return dict(self.assigns)


class Counter(Action):
    name = "counter"
    calls = 0

    async def handle(self) -> int:
        # A new instance per call: instance attributes never leak between calls.
        self.calls += 1
        return self.calls


class Whoami(Channel):
    topic = "whoami"

    async def join(self) -> dict[str, Any]:
        return {"socket": self.socket.id, "assigns": self.assigns}


app = SocketAPI()
app.register(Multiply, Search, Remember, Counter, Whoami)
client = TestClient(app)


def test_action_class_validates_and_answers_like_a_function_action() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "multiply", "data": {"a": "6"}})
        assert ws.receive_json() == {"type": "action", "channel": "multiply", "status": "completed", "data": 12}
        ws.send_json({"type": "action", "channel": "multiply", "data": {"b": 1}})
        assert ws.receive_json() == {"type": "error", "message": "Invalid parameters for action 'multiply'"}


def test_action_class_with_dependency() -> None:
    with client.socket() as socket:
        assert socket.call("search", {"query": "q", "paging": {"page": 3}}) == {"query": "q", "offset": 20, "limit": 10}


def test_each_call_gets_a_new_instance() -> None:
    with client.socket() as socket:
        assert [socket.call("counter"), socket.call("counter")] == [1, 1]


def test_assigns_are_per_socket_and_shared_with_channels() -> None:
    with client.socket() as ann, client.socket() as bob:
        assert ann.call("remember", {"key": "name", "value": "ann"}) == {"name": "ann"}
        assert bob.call("remember", {"key": "x", "value": 1}) == {"x": 1}
        reply = ann.join("whoami")
        assert reply["assigns"] == {"name": "ann"}
        assert isinstance(reply["socket"], str)
        assert reply["socket"]
        assert bob.join("whoami")["socket"] != reply["socket"]
