"""socketapi's log lines about a socket carry its id; handler tracebacks are logged at ERROR with the traceback."""

from __future__ import annotations

import logging

import pytest

from socketapi import Socket, SocketAPI
from socketapi.testclient import ErrorFrameReceived, TestClient


def test_every_line_about_a_socket_carries_its_id(caplog: pytest.LogCaptureFixture) -> None:
    app = SocketAPI(max_frame_size=1024)

    @app.action("whoami")
    async def whoami(socket: Socket) -> str:
        return socket.id

    @app.action("fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.DEBUG, logger="socketapi"), TestClient(app).socket() as socket:
        socket_id = socket.call("whoami")
        with pytest.raises(ErrorFrameReceived):
            socket.call("fail")  # a handler's exception: ERROR, with its traceback
        with pytest.raises(ErrorFrameReceived):
            socket.call("nope")  # a client mistake: DEBUG
        socket.send({"type": 5})  # a bad frame: DEBUG
        socket.receive_error()
        socket.websocket.send_text("x" * 2048)  # over max_frame_size: the socket is closed
        with pytest.raises(Exception):  # noqa: B017, PT011 - the close, however the test client reports it
            socket.receive()
    lines = [r for r in caplog.records if r.name.startswith("socketapi") and r.name != "socketapi.pubsub"]
    assert len(lines) >= 4
    for record in lines:
        assert record.getMessage().startswith(f"Socket {socket_id}:"), record.getMessage()
    [error] = [r for r in lines if r.levelno == logging.ERROR]
    assert "handler for 'fail' raised" in error.getMessage()
    assert error.exc_info is not None
    assert str(error.exc_info[1]) == "boom"
