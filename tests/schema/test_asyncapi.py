"""The AsyncAPI document: what it says about each kind of handler, and the official parser's verdict."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from socketapi import SocketAPI
from socketapi.schema.asyncapi import asyncapi_document
from socketapi.schema.describe import describe
from tests.apps import every_handler

from .node_support import HERE, run_node

SNAPSHOT = HERE / "example_app.asyncapi.json"


class Shape(BaseModel):
    sides: int


class Opaque:
    """No JSON Schema, and no validator either: only usable as a result."""


def document(app: SocketAPI) -> dict[str, Any]:
    return asyncapi_document(describe(app.endpoints, title=app.schema.title, version=app.schema.version))


def odd_app() -> SocketAPI:
    """Types pydantic cannot describe, beside one it can."""
    app = SocketAPI()

    @app.action("odd")
    async def odd(hook: Callable[[], int], shape: Shape) -> Callable[[], int]:
        return hook

    @app.action("opaque")
    async def opaque() -> Opaque:
        return Opaque()

    return app


def broken_document() -> dict[str, Any]:
    """A reply that points at a message its channel does not have."""
    doc = document(every_handler.app)
    doc["operations"]["call.sum"]["reply"]["messages"] = [{"$ref": "#/channels/action.sum/messages/nope"}]
    return doc


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The official @asyncapi/parser's report on each document, in one run of Node."""
    from example_app import app as example

    documents = {
        "example": document(example),
        "every": document(every_handler.app),
        "empty": document(every_handler.empty_app),
        "odd": document(odd_app()),
        "broken": broken_document(),
    }
    folder = tmp_path_factory.mktemp("asyncapi")
    for name, doc in documents.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))
    result = run_node(str(HERE / "validate_asyncapi.mjs"), *(str(folder / f"{name}.json") for name in documents))
    assert result.returncode == 1, result.stdout + result.stderr  # the broken one fails, and only it (below)
    report: dict[str, Any] = json.loads(result.stdout)
    return {Path(k).stem: v for k, v in report.items()}


def remarks(found: dict[str, Any]) -> list[dict[str, Any]]:
    """Every diagnostic but the notice that AsyncAPI 3.1 exists: no error, no warning, no other hint."""
    return [d for d in found["diagnostics"] if d["code"] != "asyncapi-latest-version"]


@pytest.mark.parametrize("name", ["example", "every", "empty", "odd"])
def test_the_parser_accepts_every_kind_of_handler_and_an_empty_app(parsed: dict[str, Any], name: str) -> None:
    assert parsed[name]["parsed"]
    assert remarks(parsed[name]) == []


def test_the_parser_rejects_a_broken_document(parsed: dict[str, Any]) -> None:
    """The validation step can fail."""
    assert "error" in [d["severity"] for d in parsed["broken"]["diagnostics"]]


def test_every_example_frame_is_valid_against_its_own_payload_schema(tmp_path: Path) -> None:
    doc = document(every_handler.app)
    (tmp_path / "every.json").write_text(json.dumps(doc))
    result = run_node(str(HERE / "check_examples.mjs"), str(tmp_path / "every.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    checked = json.loads(result.stdout)["checked"]
    assert checked > 60  # every message of every channel has an example


def test_an_empty_app_has_an_empty_but_complete_document() -> None:
    doc = document(every_handler.empty_app)
    assert doc["asyncapi"] == "3.0.0"
    assert [c for c in doc["channels"] if not c.startswith("socket.")] == []
    assert set(doc["operations"]) == {"ping.connection", "error.connection"}
    assert set(doc["components"]["schemas"]) == {"socketapi.Ref"}


def channel(doc: dict[str, Any], address: str) -> dict[str, Any]:
    found = [c for c in doc["channels"].values() if c["address"] == address]
    assert len(found) == 1, address
    return found[0]


def payload(doc: dict[str, Any], address: str, message: str) -> dict[str, Any]:
    msg = channel(doc, address)["messages"][message]
    return msg["payload"]  # type: ignore[no-any-return]


def test_an_action_is_a_request_with_its_reply_frames() -> None:
    doc = document(every_handler.app)
    call = payload(doc, "place_order", "call")
    assert call["properties"]["type"] == {"const": "action"}
    assert call["properties"]["channel"] == {"const": "place_order"}
    data = call["properties"]["data"]
    assert data["properties"]["order"] == {"$ref": "#/components/schemas/Order"}
    assert data["properties"]["express"] == {"type": "boolean", "default": False}
    # Depends: the dependency's own parameters, under the parameter's name.
    assert data["properties"]["user"] == {
        "type": "object",
        "properties": {"token": {"type": "string"}},
        "required": ["token"],
    }
    assert data["required"] == ["order", "user"]
    assert "data" in call["required"]
    result = payload(doc, "place_order", "result")
    assert result["properties"]["status"] == {"const": "completed"}
    assert result["properties"]["data"] == {"$ref": "#/components/schemas/Receipt"}
    assert "data" in result["required"]
    op = doc["operations"]["call.place_order"]
    assert op["action"] == "receive"
    assert op["reply"]["messages"] == [
        {"$ref": "#/channels/action.place_order/messages/result"},
        {"$ref": "#/channels/action.place_order/messages/error"},
    ]


def test_models_are_named_components_with_nested_models_referenced() -> None:
    schemas = document(every_handler.app)["components"]["schemas"]
    assert schemas["Order"]["properties"]["items"] == {
        "items": {"$ref": "#/components/schemas/Item"},
        "title": "Items",
        "type": "array",
    }
    assert schemas["Item"]["description"] == "One line of an order."
    assert schemas["Item"]["properties"]["qty"] == {"default": 1, "minimum": 1, "title": "Qty", "type": "integer"}
    assert schemas["Color"]["enum"] == ["red", "blue"]
    assert "TreeNode-Input" in schemas  # a recursive model refers to itself


def test_no_result_means_no_data_and_no_annotation_means_any_value() -> None:
    doc = document(every_handler.app)
    assert "data" not in payload(doc, "ping_me", "result")["properties"]
    assert payload(doc, "ping_me", "call")["properties"]["data"] == {"type": "object", "properties": {}}
    echo = payload(doc, "echo", "call")["properties"]["data"]
    assert echo == {"type": "object", "properties": {"value": {}}, "required": ["value"], "additionalProperties": True}
    assert payload(doc, "echo", "result")["properties"]["data"] == {}
    # An optional result may be absent from the frame.
    assert "data" not in payload(doc, "tree", "result")["required"]


def test_a_pattern_channel_has_its_address_parameters_and_subscribe_data() -> None:
    doc = document(every_handler.app)
    prices = channel(doc, "prices/{symbol}")
    assert set(prices["parameters"]) == {"symbol"}
    subscribe = prices["messages"]["subscribe"]["payload"]
    assert subscribe["properties"]["channel"]["pattern"] == "^prices\\/[^/]+$"
    # Only the RequiredOnSubscribe parameter is sent at subscribe time; the topic's is in the name.
    assert subscribe["properties"]["data"] == {
        "type": "object",
        "properties": {"currency": {"enum": ["EUR", "USD"], "type": "string"}},
        "required": ["currency"],
    }
    data = prices["messages"]["data"]
    assert data["payload"]["properties"]["data"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert "initial data" in data["summary"]  # default_response=True
    shop = channel(doc, "shop/{shop_id}/orders/{order_id}")
    assert set(shop["parameters"]) == {"shop_id", "order_id"}
    assert "integer" in shop["parameters"]["shop_id"]["description"]
    # Depends combined with RequiredOnSubscribe: the dependency's parameters, under its name.
    assert shop["messages"]["subscribe"]["payload"]["properties"]["data"]["properties"]["who"]["required"] == ["token"]
    assert shop["messages"]["data"]["payload"]["properties"]["data"] == {"$ref": "#/components/schemas/Order"}


def test_a_class_channel_has_join_reply_events_replies_and_untyped_pushes() -> None:
    doc = document(every_handler.app)
    room = channel(doc, "room:{room_id}")
    assert "integer" in room["parameters"]["room_id"]["description"]
    join = room["messages"]["subscribe"]["payload"]["properties"]["data"]
    assert set(join["properties"]) == {"nick", "avatar"}  # room_id comes from the topic
    assert join["required"] == ["nick"]
    subscribed = room["messages"]["subscribed"]["payload"]["properties"]
    assert subscribed["data"] == {"$ref": "#/components/schemas/JoinReply"}
    shout = room["messages"]["event.shout"]
    assert shout["payload"]["properties"]["event"] == {"const": "shout"}
    assert shout["payload"]["properties"]["data"]["required"] == ["text"]
    assert shout["description"] == "Say something to everyone."
    reply = room["messages"]["reply.order"]["payload"]["properties"]
    assert reply["status"] == {"const": "ok"}
    assert reply["data"] == {"$ref": "#/components/schemas/Receipt"}
    assert "reply.typing" not in room["messages"]  # returns None: no reply frame
    assert doc["operations"]["event.room_room_id_.typing"]["reply"]["messages"] == [
        {"$ref": "#/channels/channel.room_room_id/messages/error"}
    ]
    push = room["messages"]["push"]["payload"]["properties"]
    assert push["event"]["type"] == "string"
    lobby = channel(doc, "lobby")
    assert "event.any" in lobby["messages"]  # handle_in overridden: any event is accepted


def test_the_error_frame_and_the_connection_are_described() -> None:
    doc = document(every_handler.app)
    error = doc["components"]["messages"]["socketapi.error"]["payload"]
    assert error["required"] == ["type", "message"]
    assert set(error["properties"]) == {"type", "message", "code", "channel", "ref", "data"}
    # Every code the engine sends, read from the code itself.
    from tests.test_docs_reference import codes_in_the_code

    described = set(re.findall(r"`([a-z_]+)`", error["properties"]["code"]["description"].split(": ", 1)[1]))
    assert described == codes_in_the_code() - {"error"}  # "error": FrameError's own, never sent as such
    socket = doc["channels"]["socket.connection"]
    assert socket["address"] is None
    assert doc["operations"]["ping.connection"]["reply"]["messages"] == [
        {"$ref": "#/channels/socket.connection/messages/pong"}
    ]


def test_the_example_apps_document_matches_its_snapshot() -> None:
    """A change to the example app's API shows up in review. Refresh: SNAPSHOT_UPDATE=1 pytest tests/schema."""
    from example_app import app

    current = json.dumps(document(app), indent=2, ensure_ascii=False) + "\n"
    if os.environ.get("SNAPSHOT_UPDATE"):
        SNAPSHOT.write_text(current)
    if not SNAPSHOT.exists():
        pytest.fail(f"{SNAPSHOT.name} is missing: run SNAPSHOT_UPDATE=1 pytest tests/schema", pytrace=False)
    assert current == SNAPSHOT.read_text(), (
        "The example app's AsyncAPI document changed. If that is intended, refresh the snapshot with "
        "SNAPSHOT_UPDATE=1 pytest tests/schema and review the diff."
    )


def test_presence_and_history_frames_are_described() -> None:
    doc = document(every_handler.app)
    team = channel(doc, "team:{team_id}")["messages"]
    assert team["subscribe"]["payload"]["properties"]["since"]["required"] == ["offset", "epoch"]
    subscribed = team["subscribed"]["payload"]
    assert {"offset", "epoch", "recovered"} <= set(subscribed["properties"])
    assert subscribed["required"] == ["type", "channel", "offset", "epoch"]
    assert team["push"]["payload"]["properties"]["offset"]["type"] == "integer"
    state = team["data.presence_state"]["payload"]["properties"]
    assert state["event"] == {"const": "presence_state"}
    assert state["data"] == {"$ref": "#/components/schemas/socketapi.PresenceState"}
    diff = doc["components"]["schemas"]["socketapi.PresenceDiff"]
    assert diff["required"] == ["joins", "leaves"]
    # Channels without them say nothing about either.
    room = channel(doc, "room:{room_id}")["messages"]
    assert "since" not in room["subscribe"]["payload"]["properties"]
    assert "offset" not in room["push"]["payload"]["properties"]
    assert "data.presence_state" not in room
    assert "socketapi.PresenceState" not in document(every_handler.empty_app)["components"]["schemas"]


def test_a_type_without_json_schema_is_described_as_any_value_and_the_rest_still_is() -> None:
    doc = document(odd_app())
    data = payload(doc, "odd", "call")["properties"]["data"]["properties"]
    assert "no JSON Schema" in data["hook"]["description"]
    assert data["shape"] == {"$ref": "#/components/schemas/Shape"}
    assert "no JSON Schema" in payload(doc, "odd", "result")["properties"]["data"]["description"]
    assert "no JSON Schema" in payload(doc, "opaque", "result")["properties"]["data"]["description"]
    assert doc["components"]["schemas"]["Shape"]["required"] == ["sides"]


def test_names_that_collide_once_cleaned_get_distinct_ids() -> None:
    app = SocketAPI()

    @app.action("a b")
    async def spaced() -> None:
        return None

    @app.action("a_b")
    async def underscored() -> None:
        return None

    @app.channel("a/b")
    async def slashed() -> None:
        return None

    doc = document(app)
    assert doc["channels"]["action.a_b"]["address"] == "a b"
    assert doc["channels"]["action.a_b_2"]["address"] == "a_b"
    assert doc["channels"]["channel.a_b"]["address"] == "a/b"
    assert doc["operations"]["call.a_b_2"]["channel"] == {"$ref": "#/channels/action.a_b_2"}
