"""The app serves the JavaScript client and its types (unless told not to); the example app serves its page."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from example_app import app as example_app
from socketapi import SocketAPI

STATIC = Path(__file__).resolve().parent.parent / "socketapi" / "static"


def test_the_client_and_its_types_are_served() -> None:
    client = TestClient(SocketAPI())
    js = client.get("/socketapi.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert js.text == (STATIC / "socketapi.js").read_text()
    assert "export class Socket" in js.text
    types = client.get("/socketapi.d.ts")
    assert types.status_code == 200
    assert "export class Socket" in types.text


def test_serve_client_false_turns_both_off() -> None:
    client = TestClient(SocketAPI(serve_client=False))
    assert client.get("/socketapi.js").status_code == 404
    assert client.get("/socketapi.d.ts").status_code == 404


def test_a_route_of_the_user_wins() -> None:
    async def mine(_request: object) -> PlainTextResponse:
        return PlainTextResponse("mine")

    client = TestClient(SocketAPI(routes=[Route("/socketapi.js", mine)]))
    assert client.get("/socketapi.js").text == "mine"


def test_the_example_app_serves_its_page_and_the_socket_on_the_same_path() -> None:
    client = TestClient(example_app)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'from "/socketapi.js"' in page.text
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "multiply", "data": {"a": 6, "b": 7}, "ref": 1})
        assert ws.receive_json()["data"] == 42


def test_the_pages_room_keeps_presence_and_history() -> None:
    from example_app.rooms import ChatRoomChannel
    from socketapi.testclient import TestClient as SocketTestClient

    app = SocketAPI()  # not the example app's object: this test's lifespan would shut it down for the others
    app.register(ChatRoomChannel)
    with SocketTestClient(app) as client, client.socket() as ann, client.socket() as bob:
        joined = ann.subscribe("chatroom:1", {"nick": "ann"})
        assert joined["data"] == {"welcome": "ann", "room": 1}
        assert (joined["offset"], isinstance(joined["epoch"], str)) == (1, True)  # 1: ann's own "joined"
        bob.join("chatroom:1", {"nick": "bob"})
        assert set(ann.presence("chatroom:1", until=lambda s: set(s) == {"ann", "bob"})) == {"ann", "bob"}
        assert bob.receive_reply(bob.push("chatroom:1", "shout", {"text": "hi"})) == {"sent": 1}
        shout = ann.receive_broadcast("chatroom:1", "shout")
        assert (shout["data"], shout["offset"]) == ({"from": "bob", "text": "hi"}, 3)  # 2: bob's "joined"
