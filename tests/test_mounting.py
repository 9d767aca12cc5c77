"""The socket beside HTTP routes, at another path, under a prefix, and inside a FastAPI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.websockets import WebSocketDisconnect

from socketapi import SocketAPI, SocketMount
from socketapi.testclient import TestClient


def make_app(**kwargs: object) -> SocketAPI:
    app = SocketAPI(**kwargs)  # type: ignore[arg-type]

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.channel("news")
    async def news(text: str) -> dict[str, str]:
        return {"text": text}

    return app


async def health(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_path_and_http_routes_beside_the_socket() -> None:
    app = make_app(path="/live", routes=[Route("/health", health)])
    client = TestClient(app)
    assert client.get("/health").text == "ok"
    with client.socket("/live") as socket:
        assert socket.call("add", {"a": 1, "b": 2}) == 3
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/"):
        pass  # nothing at / any more


@pytest.mark.parametrize("url", ["/ws", "/ws/"])
def test_socket_mount_serves_the_bare_prefix_and_the_slash(url: str) -> None:
    sockets = make_app(routes=[Route("/health", health)])
    outer = Starlette(routes=[Route("/", health), SocketMount("/ws", app=sockets)])
    client = TestClient(outer)
    with client.socket(url) as socket:
        assert socket.call("add", {"a": 2, "b": 2}) == 4
    assert client.get("/ws/health").text == "ok"  # the mounted app's HTTP routes live under the prefix


def test_a_plain_mount_serves_the_slash_only() -> None:
    outer = Starlette(routes=[Mount("/ws", app=make_app())])
    client = TestClient(outer)
    with client.socket("/ws/") as socket:
        assert socket.call("add", {"a": 1, "b": 1}) == 2
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws"):
        pass  # Starlette's Mount: the reason SocketMount exists


def test_inside_a_fastapi_app_with_the_socket_lifespan() -> None:
    sockets = make_app()

    @contextlib.asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        async with sockets.router.lifespan_context(sockets):  # the hub, graceful shutdown
            yield

    api = FastAPI(lifespan=lifespan)

    @api.post("/news")
    async def post_news(text: str) -> dict[str, str]:
        from_channel = await sockets.broadcast("news", {"text": text})
        assert from_channel is None
        return {"sent": text}

    api.router.routes.append(SocketMount("/ws", app=sockets))
    with TestClient(api) as client, client.socket("/ws") as socket:
        socket.join("news")
        assert client.post("/news", params={"text": "hi"}).json() == {"sent": "hi"}
        assert socket.receive_push("news") == {"text": "hi"}
        assert socket.call("add", {"a": 3, "b": 4}) == 7
