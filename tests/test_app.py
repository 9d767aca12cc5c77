"""The app as an ASGI/Starlette citizen: extra routes, user middleware, custom path."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from socketapi import Socket, SocketAPI
from socketapi.testclient import TestClient


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


class TagMiddleware:
    """A user's pure ASGI middleware: it must still see WebSocket connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope["tag"] = "seen by middleware"
        await self.app(scope, receive, send)


async def remember_tag(websocket: WebSocket) -> dict[str, Any]:
    return {"tag": websocket.scope.get("tag")}


def make_app(**kwargs: Any) -> SocketAPI:
    app = SocketAPI(routes=[Route("/health", health)], on_connect=remember_tag, **kwargs)

    @app.action("tag")
    async def tag(socket: Socket) -> Any:
        return socket.assigns["tag"]

    return app


def test_http_routes_live_beside_the_socket() -> None:
    client = TestClient(make_app())
    assert client.get("/health").text == "ok"
    with client.socket() as socket:
        assert socket.call("tag") is None


def test_user_middleware_sees_websocket_connections() -> None:
    app = make_app()
    app.add_middleware(TagMiddleware)
    with TestClient(app).socket() as socket:
        assert socket.call("tag") == "seen by middleware"


def test_custom_path() -> None:
    client = TestClient(make_app(path="/ws"))
    with client.socket("/ws") as socket:
        assert socket.call("tag") is None


def test_an_app_served_again_after_its_shutdown_accepts_sockets() -> None:
    """A lifespan that starts again (a test client entered twice, a server restarted in-process) serves anew."""
    app = SocketAPI()

    @app.action("one")
    async def one() -> int:
        return 1

    for _ in range(2):
        with TestClient(app) as client, client.socket() as socket:
            assert socket.call("one") == 1
