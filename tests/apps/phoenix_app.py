"""The app the official phoenix client is tested against (tests/js/phoenix.test.mjs, tests/test_phoenix_*.py).

Besides its channels it serves a few test-only HTTP routes: broadcasting from outside a
channel, stopping the server (the restart test relaunches it on the same port), and the
page and ``phoenix.mjs`` for the browser test.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket

from socketapi import Channel, ConnectRefused, JoinRefused, SocketAPI, auth_token, on_event

ROOT = Path(__file__).resolve().parents[2]
PHOENIX_MJS = ROOT / "node_modules" / "phoenix" / "priv" / "static" / "phoenix.mjs"


async def on_connect(websocket: WebSocket) -> dict[str, Any]:
    token = auth_token(websocket)
    if token == "forbidden":
        raise ConnectRefused("bad token")
    return {"token": token, "params": dict(websocket.query_params)}


class Room(Channel):
    """A chat room: every reply, push and broadcast kind phoenix.js can receive."""

    topic = "room:{room_id}"

    async def join(self, room_id: str, name: str = "anon") -> dict[str, str]:
        if room_id == "locked":
            raise JoinRefused("locked", data={"hint": "ask the owner"})
        self.name = name
        return {"room": room_id, "name": name}

    @on_event("echo")
    async def echo(self, text: str) -> dict[str, str]:
        return {"text": text}

    @on_event("shout")
    async def shout(self, text: str) -> dict[str, bool]:
        await self.broadcast("shout", {"from": self.name, "text": text})
        return {"sent": True}

    @on_event("others")
    async def others(self, text: str) -> dict[str, bool]:
        await self.broadcast_from("others", {"from": self.name, "text": text})
        return {"sent": True}

    @on_event("whisper")
    async def whisper(self, text: str) -> None:
        await self.push("whisper", {"text": text})  # to this subscriber only, and no reply

    @on_event("boom")
    async def boom(self) -> None:
        raise RuntimeError("boom!")

    @on_event("whoami")
    async def whoami(self) -> dict[str, Any]:
        return {"token": self.assigns["token"], "params": self.assigns["params"]}

    async def leave(self, reason: str) -> None:
        if reason == "left":
            await self.broadcast("left", {"name": self.name})


SLOW: dict[str, dict[str, Any]] = {}  # per topic of Slow: joins started and finished, leave reasons


class Slow(Channel):
    """A channel whose first join of a topic takes 1 s: longer than the client's join timeout."""

    topic = "slow:{slow_id}"

    async def join(self, slow_id: str) -> None:
        stats = SLOW.setdefault(self.topic_name, {"started": 0, "joined": 0, "leaves": []})
        stats["started"] += 1
        if stats["started"] == 1:
            await asyncio.sleep(1.0)
        stats["joined"] += 1

    @on_event("stats")
    async def stats(self) -> dict[str, Any]:
        return SLOW[self.topic_name]

    async def leave(self, reason: str) -> None:
        SLOW[self.topic_name]["leaves"].append(reason)


class Lobby(Channel):
    """Presence over the Phoenix protocol: phoenix.js's Presence syncs from presence_state and presence_diff."""

    topic = "presence:{lobby}"
    presence = True

    async def join(self, lobby: str, user: str) -> None:
        await self.track(user, {"device": "node"})


def create_app() -> SocketAPI:
    """A fresh app (the tests that run it in process need one each: a stopped app accepts no socket)."""
    app = SocketAPI(on_connect=on_connect, idle_timeout=float(os.environ.get("PHOENIX_APP_IDLE_TIMEOUT", "60")))
    app.register(Room, Slow, Lobby)

    @app.channel("news")
    async def news(headline: str) -> dict[str, str]:
        return {"headline": headline}

    async def publish_news(request: Request) -> Response:
        await news(headline=request.query_params["headline"])
        return JSONResponse({"ok": True})

    async def broadcast(request: Request) -> Response:
        q = request.query_params
        await app.broadcast(q["topic"], {"text": q["text"]}, event=q["event"])
        return JSONResponse({"ok": True})

    async def stop(request: Request) -> Response:
        """Stop this server as SIGTERM does (graceful: sockets closed with 1001); the test relaunches it."""
        os.kill(os.getpid(), signal.SIGTERM)
        return JSONResponse({"ok": True})

    async def page(request: Request) -> Response:
        return HTMLResponse(
            "<!doctype html><title>phoenix</title>"
            '<script type="module">import * as phoenix from "/phoenix.mjs"; window.phoenix = phoenix;</script>'
        )

    async def phoenix_mjs(request: Request) -> Response:
        return FileResponse(PHOENIX_MJS, media_type="text/javascript")

    app.router.routes.extend(
        [
            Route("/_test/news", publish_news, methods=["POST"]),
            Route("/_test/broadcast", broadcast, methods=["POST"]),
            Route("/_test/stop", stop, methods=["POST"]),
            Route("/phoenix-test", page),
            Route("/phoenix.mjs", phoenix_mjs),
        ]
    )
    return app


app = create_app()
