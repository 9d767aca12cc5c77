"""GET /asyncapi and /asyncapi.json: served by the app, self-contained, switchable, current."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
from starlette.testclient import TestClient

from socketapi import SocketAPI
from tests.apps import every_handler
from tests.support import serve


def test_the_page_shows_every_action_channel_event_and_schema_with_example_frames() -> None:
    page = TestClient(every_handler.app).get("/asyncapi")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    for action in ("place_order", "list_items", "math.multiply", "router.hello", "lookup"):
        assert f"<code>{action}</code></h3>" in html
    for pattern in ("news", "prices/{symbol}", "shop/{shop_id}/orders/{order_id}", "room:{room_id}", "lobby"):
        assert f"<code>{pattern}</code></h3>" in html
    for schema in ("Order", "Item", "Receipt", "JoinReply", "Tag", "Color"):
        assert f'id="schema-{schema}"' in html
    assert "Event shout" in html
    assert "Reply to order" in html
    # Example frames, as they are on the wire.
    assert "<pre>{&quot;type&quot;: &quot;action&quot;, &quot;channel&quot;: &quot;math.multiply&quot;" in html
    assert "&quot;channel&quot;: &quot;room:1&quot;" in html
    # Fields with their types, defaults and descriptions; a model links to its schema.
    assert '<a href="#schema-Order">Order</a>' in html
    assert "What is ordered." in html
    assert "integer ≥ 1" in html
    # Fields of the frame beyond data: history's, and the error frame's.
    assert "<p>Also in the frame:</p>" in html
    assert "<td><code>since</code></td>" in html
    assert '<td><code>message</code> <span class="req">required</span></td>' in html


def test_the_page_needs_nothing_from_the_network() -> None:
    html = TestClient(every_handler.app).get("/asyncapi").text
    assert "<script" not in html
    assert "<link" not in html
    assert "<img" not in html
    assert "url(" not in html
    assert "@import" not in html
    assert re.findall(r"(?:src|href)=\"(?!#)([^\"]*)\"", html) == ["asyncapi.json"]  # the document, same server


def test_text_from_docstrings_is_escaped() -> None:
    app = SocketAPI()

    @app.action("x")
    async def x() -> None:
        """Returns <script>alert(1)</script> & more."""

    html = TestClient(app).get("/asyncapi").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more." in html


def test_an_empty_app_serves_an_empty_document_and_page() -> None:
    client = TestClient(every_handler.empty_app)
    assert client.get("/asyncapi.json").json()["channels"].keys() == {"socket.connection"}
    html = client.get("/asyncapi").text
    assert "No actions are registered." in html
    assert "No channels are registered." in html


def test_both_endpoints_can_be_turned_off() -> None:
    client = TestClient(SocketAPI(asyncapi=False))
    assert client.get("/asyncapi").status_code == 404
    assert client.get("/asyncapi.json").status_code == 404


def test_the_document_follows_registrations_made_after_the_first_request() -> None:
    app = SocketAPI(title="Later", version="1.2.3")
    client = TestClient(app)
    first = client.get("/asyncapi.json").json()
    assert first["info"] == {**first["info"], "title": "Later", "version": "1.2.3"}
    assert client.get("/asyncapi.json").content == client.get("/asyncapi.json").content

    @app.action("late")
    async def late(n: int) -> int:
        return n

    addresses = [c["address"] for c in client.get("/asyncapi.json").json()["channels"].values()]
    assert "late" in addresses


def test_a_real_server_serves_both_and_the_socket_still_works() -> None:
    with serve("example_app:app") as server:
        base = f"http://127.0.0.1:{server.port}"
        document = httpx.get(f"{base}/asyncapi.json", timeout=10)
        assert document.status_code == 200
        assert document.headers["content-type"] == "application/json"
        assert {c["address"] for c in document.json()["channels"].values()} >= {"add_numbers", "chat", "room:{room_id}"}
        page = httpx.get(f"{base}/asyncapi", timeout=10)
        assert page.status_code == 200
        assert "<code>add_numbers</code>" in page.text

        from websockets.sync.client import connect

        with connect(server.url, open_timeout=10) as ws:
            ws.send('{"type":"action","channel":"add_numbers","data":{"a":1,"b":2}}')
            assert ws.recv(timeout=10) == '{"type":"action","channel":"add_numbers","status":"completed","data":3}'


def test_a_reply_that_is_not_an_object_with_fields_is_one_line() -> None:
    html = TestClient(every_handler.app).get("/asyncapi").text
    assert "<p><code>data</code>: object of integer</p>" in html  # the shout reply: dict[str, int]
    assert '<p><code>data</code> (optional): <span class="muted">no fields</span></p>' in html  # typing
    assert ': class="muted">' not in html  # no markup cut in half


def test_an_apps_own_asyncapi_route_wins() -> None:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def mine(request: object) -> PlainTextResponse:
        return PlainTextResponse("mine")

    client = TestClient(SocketAPI(routes=[Route("/asyncapi", mine)]))
    assert client.get("/asyncapi").text == "mine"
    assert client.get("/asyncapi.json").json()["asyncapi"] == "3.0.0"


def test_mounted_under_a_prefix_the_document_gives_the_sockets_full_path() -> None:
    from starlette.applications import Starlette

    from socketapi.mount import SocketMount

    api = SocketAPI()
    site = Starlette(routes=[SocketMount("/ws", app=api)])
    client = TestClient(site)
    document = client.get("/ws/asyncapi.json").json()
    assert document["servers"]["default"]["pathname"] == "/ws/"
    assert "One WebSocket at `/ws/`" in document["info"]["description"]
    assert "<code>/ws/</code>" in client.get("/ws/asyncapi").text
    assert TestClient(api).get("/asyncapi.json").json()["servers"]["default"]["pathname"] == "/"


class _Tags(HTMLParser):
    """Checks that every element is closed, in order."""

    VOID = frozenset({"meta", "br", "img", "hr", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.mismatched: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()
        else:
            self.mismatched.append(f"</{tag}> inside {self.open[-3:]}")


def test_the_page_is_well_formed() -> None:
    for app in (every_handler.app, every_handler.empty_app):
        tags = _Tags()
        tags.feed(TestClient(app).get("/asyncapi").text)
        assert tags.mismatched == []
        assert tags.open == []
