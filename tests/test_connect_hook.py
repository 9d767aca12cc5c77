"""``on_connect`` decides at the handshake: assigns, a refusal, and a crashing hook refuses too."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from starlette.websockets import WebSocket, WebSocketDisconnect

from socketapi import ConnectRefused, Depends, SocketAPI
from socketapi.connection import Socket
from socketapi.testclient import TestClient


async def hook(websocket: WebSocket) -> dict[str, Any] | None:
    token = websocket.query_params.get("token", "")
    if token == "crash":
        raise RuntimeError("the auth service is down")
    if token == "lookup":
        return {}["missing"]  # type: ignore[no-any-return]  # a KeyError: a bug in the hook
    if token == "bad":
        raise ConnectRefused("bad token")
    if token == "none":
        return None
    return {"user": token}


app = SocketAPI(on_connect=hook)


def user(socket: Socket) -> str:
    return str(socket.assigns.get("user", "anonymous"))


@app.action("whoami")
async def whoami(name: Annotated[str, Depends(user)]) -> str:
    return name


client = TestClient(app)


def whoami_over(path: str) -> Any:
    with client.websocket_connect(path) as ws:
        ws.send_json({"type": "action", "channel": "whoami"})
        return ws.receive_json()["data"]


def assert_refused(path: str) -> None:
    with pytest.raises(WebSocketDisconnect) as refused:
        client.websocket_connect(path).__enter__()
    assert refused.value.code == 1008  # closed before the accept: a real server answers HTTP 403


@pytest.mark.parametrize("token", ["crash", "lookup"])
def test_a_hook_that_raises_anything_refuses_the_socket_and_logs_the_error(
    token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="socketapi")
    assert_refused(f"/?token={token}")
    errors = [r for r in caplog.records if r.name == "socketapi" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "on_connect raised; refusing the socket" in errors[0].getMessage()
    assert errors[0].exc_info is not None  # with its traceback
    assert whoami_over("/?token=ann") == "ann"  # the next socket is served


def test_connect_refused_refuses_the_socket_at_info_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="socketapi")
    assert_refused("/?token=bad")
    refusals = [r for r in caplog.records if "on_connect refused a socket: bad token" in r.getMessage()]
    assert [r.levelname for r in refusals] == ["INFO"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(("token", "expected"), [("ann", "ann"), ("none", "anonymous")])
def test_the_hooks_result_becomes_the_sockets_assigns(token: str, expected: str) -> None:
    assert whoami_over(f"/?token={token}") == expected


def test_a_hook_that_tries_to_talk_is_told_why_and_the_socket_refused(caplog: pytest.LogCaptureFixture) -> None:
    async def chatty(websocket: WebSocket) -> dict[str, Any]:
        await websocket.accept()  # a mistake: the server accepts once the hook returned
        return {}

    chatty_app = SocketAPI(on_connect=chatty)
    with pytest.raises(WebSocketDisconnect) as refused, TestClient(chatty_app).websocket_connect("/"):
        pass
    assert refused.value.code == 1008
    errors = [r for r in caplog.records if r.name == "socketapi" and r.exc_info]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == (
        "on_connect runs before the socket is accepted: read the handshake (headers, query_params, cookies,"
        " scope) and return the assigns or raise ConnectRefused; frames are sent once it is accepted"
    )
