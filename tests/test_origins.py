"""The origin policy: development on loopback works unconfigured, a public name stays strict, refusals say why."""

from __future__ import annotations

import logging

import pytest
from starlette.websockets import WebSocketDisconnect

from socketapi import SocketAPI
from socketapi.origins import is_loopback, refusal
from socketapi.testclient import TestClient

LOOPBACK = ("127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("origin", "host", "server", "allowed"),
    [
        (None, "app.example", ("10.0.0.5", 443), True),  # not a browser
        ("https://app.example", "app.example", ("10.0.0.5", 443), True),  # same host
        ("https://evil.example", "app.example", ("10.0.0.5", 443), False),
        ("http://localhost:3000", "app.example", ("10.0.0.5", 443), False),  # a public name stays strict
        ("http://localhost:3000", "app.example", LOOPBACK, False),  # behind a proxy that keeps Host
        ("http://localhost:8000", "127.0.0.1:8000", LOOPBACK, True),  # localhost vs 127.0.0.1
        ("http://127.0.0.1:5173", "localhost:8000", LOOPBACK, True),  # a dev server on another port
        ("http://[::1]:5173", "[::1]:8000", ("::1", 8000), True),
        ("http://app.localhost:5173", "localhost:8000", LOOPBACK, True),
        ("http://evil.example", "localhost:8000", LOOPBACK, False),  # loopback server, foreign page
        ("http://localhost:3000", "localhost:8000", ("10.0.0.5", 8000), False),  # Host lies, address does not
        ("null", "localhost:8000", LOOPBACK, False),  # file:// pages, sandboxed iframes: refused
    ],
)
def test_default_policy(origin: str | None, host: str, server: tuple[str, int], allowed: bool) -> None:
    assert (refusal(origin, host, server, None) is None) is allowed


def test_an_explicit_list_is_exact() -> None:
    allowed = ["https://app.example", "null"]
    assert refusal("https://app.example/", "x", LOOPBACK, allowed) is None
    assert refusal("null", "x", LOOPBACK, allowed) is None
    assert refusal("http://localhost:8000", "localhost:8000", LOOPBACK, allowed) is not None  # no loopback leniency
    assert refusal("https://anything", "x", None, ["*"]) is None


def test_loopback_names() -> None:
    assert all(map(is_loopback, ["localhost", "LOCALHOST.", "a.localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["", None, "localhost.example", "10.0.0.1", "0.0.0.0", "example.com"]))


def test_a_refusal_is_logged_at_warning_with_the_origin_and_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    app = SocketAPI()

    @app.action("ping_me")
    async def ping_me() -> str:
        return "pong"

    client = TestClient(app)  # Host "testserver": a public name (the test client closes instead of a 403)
    with caplog.at_level(logging.WARNING, logger="socketapi"), pytest.raises(WebSocketDisconnect):
        client.websocket_connect("/", headers={"origin": "https://evil.example"}).__enter__()
    [record] = [r for r in caplog.records if r.name == "socketapi"]
    assert record.levelno == logging.WARNING
    assert "'https://evil.example'" in record.getMessage()
    assert "allowed_origins=['https://evil.example']" in record.getMessage()
    with client.socket("/", headers={"origin": "http://testserver"}) as socket:  # the same host: served
        assert socket.call("ping_me") == "pong"
