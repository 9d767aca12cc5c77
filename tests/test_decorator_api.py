"""SPEC section 2: the 0.2.0 decorator API, where the documentation wins over 0.2.0's strays."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from socketapi import Depends, RequiredOnSubscribe, Router, SocketAPI
from socketapi.testclient import TestClient


class Address(BaseModel):
    street: str
    city: str


class Person(BaseModel):
    name: str
    age: int
    address: Address


class Token:
    """A dependency result that is no model and no JSON: passed through untouched."""

    def __init__(self, value: str) -> None:
        self.value = value


app = SocketAPI()


@app.action("person")
async def person(p: Person) -> Person:
    return p


@app.action("containers")
async def containers(tags: list[str], scores: dict[str, float], pair: tuple[int, int]) -> dict[str, Any]:
    return {"tags": tags, "scores": scores, "pair": list(pair)}


@app.action("untyped")
async def untyped(value):  # type: ignore[no-untyped-def]  # an unannotated parameter takes any JSON
    return {"got": value}


@app.action("defaults")
async def defaults(a: int, b: int = 10, label: str = "sum") -> dict[str, Any]:
    return {label: a + b}


@app.action("constrained")
async def constrained(n: Annotated[int, Field(gt=0)]) -> int:
    return n


async def get_token(token: str) -> Token:
    return Token(token)


async def get_user(token: Annotated[Token, Depends(get_token)], admin: bool = False) -> dict[str, Any]:
    return {"token": token.value, "admin": admin}


@app.action("whoami")
async def whoami(user: Annotated[dict[str, Any], Depends(get_user)]) -> dict[str, Any]:
    return user


@app.action("token_type")
async def token_type(token: Annotated[Token, Depends(get_token)]) -> str:
    return type(token).__name__


async def failing_dependency() -> None:
    raise PermissionError("not allowed")


@app.action("guarded")
async def guarded(_: Annotated[None, Depends(failing_dependency)]) -> str:
    return "unreachable"


@app.channel("room_feed", default_response=True)
async def room_feed(room: Annotated[int, RequiredOnSubscribe], text: str = "hello") -> dict[str, Any]:
    return {"room": room, "text": text}


async def subscriber(token: str) -> str:
    if token != "secret":
        raise PermissionError("bad token")
    return token


@app.channel("private")
async def private(user: Annotated[str, Depends(subscriber), RequiredOnSubscribe], text: str = "") -> str:
    return text


@app.channel("rooms/{room_id}")
async def room(room_id: int, text: str = "") -> dict[str, Any]:
    return {"room": room_id, "text": text}


@app.action("say_in_room")
async def say_in_room(room_id: int, text: str) -> None:
    await room(room_id=room_id, text=text)


@app.action("say_positionally")
async def say_positionally(room_id: int) -> None:
    await room(room_id, "positional")


@app.channel("alerts")
async def alerts(level: str, detail: Person | None = None) -> dict[str, Any]:
    return {"level": level, "detail": detail}


@app.action("alert")
async def alert(level: str) -> dict[str, Any]:
    return await alerts(level=level, detail=Person(name="Ann", age=3, address=Address(street="s", city="c")))


router = Router()


@router.action("router_action")
async def router_action(x: int) -> int:
    return x * 2


@router.channel("router_channel")
async def router_channel(value: int = 0) -> dict[str, int]:
    return {"value": value}


@router.action("router_broadcast")
async def router_broadcast(value: int) -> None:
    await router_channel(value=value)


app.include_router(router)
client = TestClient(app)


def call(ws: Any, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    ws.send_json({"type": "action", "channel": action, "data": data or {}})
    frame: dict[str, Any] = ws.receive_json()
    return frame


def test_nested_models_are_validated_and_dumped() -> None:
    p = {"name": "Ann", "age": "41", "address": {"street": "Main", "city": "Oslo"}}
    with client.websocket_connect("/") as ws:
        assert call(ws, "person", {"p": p})["data"] == {**p, "age": 41}
        assert call(ws, "person", {"p": {**p, "address": {"street": "Main"}}}) == {
            "type": "error",
            "message": "Invalid parameters for action 'person'",
        }


def test_lax_mode_and_containers() -> None:
    with client.websocket_connect("/") as ws:
        frame = call(ws, "containers", {"tags": ["a"], "scores": {"x": "1.5"}, "pair": ["1", 2]})
        assert frame["data"] == {"tags": ["a"], "scores": {"x": 1.5}, "pair": [1, 2]}


@pytest.mark.parametrize("value", [1, "s", None, [1, {"a": 2}], {"k": [True]}])
def test_unannotated_parameter_takes_any_json(value: Any) -> None:
    with client.websocket_connect("/") as ws:
        assert call(ws, "untyped", {"value": value})["data"] == {"got": value}


def test_defaults_are_honoured() -> None:
    with client.websocket_connect("/") as ws:
        assert call(ws, "defaults", {"a": 1})["data"] == {"sum": 11}
        assert call(ws, "defaults", {"a": 1, "b": 2, "label": "total"})["data"] == {"total": 3}


def test_annotated_constraints_are_kept() -> None:
    with client.websocket_connect("/") as ws:
        assert call(ws, "constrained", {"n": 3})["data"] == 3
        assert call(ws, "constrained", {"n": 0})["message"] == "Invalid parameters for action 'constrained'"


def test_nested_dependencies_read_data_under_the_parameter_name() -> None:
    with client.websocket_connect("/") as ws:
        frame = call(ws, "whoami", {"user": {"token": {"token": "t1"}, "admin": True}})
        assert frame["data"] == {"token": "t1", "admin": True}
        assert call(ws, "whoami", {"user": {"token": {}}})["message"] == "Invalid parameters for action 'whoami'"
        assert call(ws, "whoami", {"user": "flat"})["message"] == "Invalid parameters for action 'whoami'"


def test_dependency_result_is_passed_through_unvalidated() -> None:
    with client.websocket_connect("/") as ws:
        assert call(ws, "token_type", {"token": {"token": "x"}})["data"] == "Token"


def test_exception_in_dependency_is_reported_with_its_text() -> None:
    with client.websocket_connect("/") as ws:
        assert call(ws, "guarded") == {"type": "error", "message": "not allowed"}


def test_required_on_subscribe_is_validated_and_feeds_the_initial_data() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "room_feed"})
        assert ws.receive_json() == {"type": "error", "message": "Invalid parameters for action 'room_feed'"}
        ws.send_json({"type": "subscribe", "channel": "room_feed", "data": {"room": "x"}})
        assert ws.receive_json() == {"type": "error", "message": "Invalid parameters for action 'room_feed'"}
        ws.send_json({"type": "subscribe", "channel": "room_feed", "data": {"room": "7", "text": "ignored"}})
        assert ws.receive_json() == {"type": "subscribed", "channel": "room_feed"}
        assert ws.receive_json() == {"type": "data", "channel": "room_feed", "data": {"room": 7, "text": "hello"}}


def test_dependency_combined_with_required_on_subscribe_can_refuse() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "private", "data": {"user": {"token": "nope"}}})
        assert ws.receive_json() == {"type": "error", "message": "bad token"}
        ws.send_json({"type": "subscribe", "channel": "private", "data": {"user": {"token": "secret"}}})
        assert ws.receive_json() == {"type": "subscribed", "channel": "private"}


def test_channel_with_required_broadcast_parameters_can_be_subscribed() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "alerts"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "alerts"}
        frames = [call(ws, "alert", {"level": "high"}), ws.receive_json()]
        data = next(f for f in frames if f["type"] == "data")
        assert data == {
            "type": "data",
            "channel": "alerts",
            "data": {"level": "high", "detail": {"name": "Ann", "age": 3, "address": {"street": "s", "city": "c"}}},
        }
        result = next(f for f in frames if f["type"] == "action")
        assert result["data"]["detail"]["name"] == "Ann"  # calling the channel function returns its value


def test_dynamic_channel_names_route_broadcasts_to_the_concrete_topic() -> None:
    with client.websocket_connect("/") as five, client.websocket_connect("/") as six:
        five.send_json({"type": "subscribe", "channel": "rooms/5"})
        assert five.receive_json() == {"type": "subscribed", "channel": "rooms/5"}
        six.send_json({"type": "subscribe", "channel": "rooms/6"})
        assert six.receive_json() == {"type": "subscribed", "channel": "rooms/6"}
        six.send_json({"type": "action", "channel": "say_in_room", "data": {"room_id": 5, "text": "hi"}})
        assert six.receive_json() == {"type": "action", "channel": "say_in_room", "status": "completed"}
        assert five.receive_json() == {"type": "data", "channel": "rooms/5", "data": {"room": 5, "text": "hi"}}
        six.send_json({"type": "action", "channel": "say_in_room", "data": {"room_id": 6, "text": "yo"}})
        assert six.receive_json() == {"type": "data", "channel": "rooms/6", "data": {"room": 6, "text": "yo"}}


def test_channel_function_called_positionally_finds_its_topic() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "rooms/8"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "rooms/8"}
        frames = [call(ws, "say_positionally", {"room_id": 8}), ws.receive_json()]
        assert {"type": "data", "channel": "rooms/8", "data": {"room": 8, "text": "positional"}} in frames


def test_dynamic_channel_parameter_is_validated() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "rooms/abc"})
        assert ws.receive_json() == {"type": "error", "message": "Invalid parameters for action 'rooms/abc'"}
        ws.send_json({"type": "subscribe", "channel": "rooms/"})
        assert ws.receive_json() == {"type": "error", "message": "Channel 'rooms/' not found."}


def test_router_actions_and_channels_broadcast_through_the_app() -> None:
    with client.websocket_connect("/") as ws:
        assert call(ws, "router_action", {"x": 4})["data"] == 8
        ws.send_json({"type": "subscribe", "channel": "router_channel"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "router_channel"}  # default_response=False
        frames = [call(ws, "router_broadcast", {"value": 3}), ws.receive_json()]
        assert {"type": "data", "channel": "router_channel", "data": {"value": 3}} in frames


async def test_calling_a_channel_function_of_an_unmounted_router_raises() -> None:
    lonely = Router()

    @lonely.channel("lonely")
    async def lonely_channel() -> int:
        return 1

    with pytest.raises(RuntimeError, match="not registered with any SocketAPI app"):
        await lonely_channel()


def test_actions_stay_plain_functions() -> None:
    import asyncio

    assert asyncio.run(defaults(1, 2)) == {"sum": 3}


def test_postponed_annotations_module() -> None:
    from tests.apps.future_annotations import app as future_app

    with TestClient(future_app).websocket_connect("/") as ws:
        frame = call(ws, "order", {"item": {"name": "pen", "qty": "2"}, "user": {"token": "9"}})
        assert frame["data"] == {"item": {"name": "pen", "qty": 2}, "user": "user-9"}
        ws.send_json({"type": "subscribe", "channel": "orders", "data": {"shop": "4"}})
        assert ws.receive_json() == {"type": "subscribed", "channel": "orders"}
        assert ws.receive_json() == {"type": "data", "channel": "orders", "data": {"shop": 4, "note": "open"}}
