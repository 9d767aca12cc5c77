"""0.2.0's "broadcasting from outside the server context", with the default in-memory backend.

A real uvicorn serves a 0.2.0-style app; a separate Python process imports the app and calls its
channel function; the server's subscribers get it. Forged requests to the relay endpoint (unsigned,
wrongly signed, stale, replayed, from a refused address) are refused and deliver nothing.
"""

from __future__ import annotations

import http.client
import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from socketapi import RelayError, SocketAPI, relay
from socketapi.pubsub import Broadcast
from socketapi.testclient import TestClient

from .support import ROOT, Client, Server, free_port, serve


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_RUNTIME_DIR, for the server, the scripts and this process alike."""
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    monkeypatch.delenv(relay.SECRET_ENV, raising=False)
    return path


@pytest.fixture
def server(runtime_dir: Path) -> Iterator[Server]:
    port = free_port()
    with serve("tests.apps.dropin:app", port=port, env={"DROPIN_PORT": str(port)}) as running:
        yield running


def run_script(code: str, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DROPIN_PORT": str(port), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


SCRIPT = (
    "import asyncio\n"
    "from tests.apps.dropin import app, chat_channel\n"
    "print(asyncio.run(chat_channel(message='from a script')))\n"
    "asyncio.run(app.broadcast('chat', {'message': 'direct'}))\n"
)


def subscribed(server: Server) -> Client:
    client = Client(server.url)
    client.send({"type": "subscribe", "channel": "chat"})
    assert client.recv() == {"type": "subscribed", "channel": "chat"}
    return client


def test_a_script_calling_a_channel_function_reaches_the_servers_subscribers(server: Server) -> None:
    client = subscribed(server)
    result = run_script(SCRIPT, server.port)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'message': 'from a script'}"  # the function ran and returned
    assert client.recv() == {"type": "data", "channel": "chat", "data": {"message": "from a script"}}
    assert client.recv() == {"type": "data", "channel": "chat", "data": {"message": "direct"}}
    client.send({"type": "action", "channel": "send_message", "data": {"message": "inside"}})
    frames = [client.recv(), client.recv()]  # the server's own path is unchanged
    assert {"type": "data", "channel": "chat", "data": {"message": "inside"}} in frames


def test_a_channel_of_an_included_router_broadcasts_from_a_script(server: Server) -> None:
    client = Client(server.url)
    client.send({"type": "subscribe", "channel": "news"})
    assert client.recv() == {"type": "subscribed", "channel": "news"}
    code = "import asyncio\nfrom tests.apps.dropin import news_channel\nasyncio.run(news_channel(headline='out'))\n"
    result = run_script(code, server.port)
    assert result.returncode == 0, result.stderr
    assert client.recv() == {"type": "data", "channel": "news", "data": {"headline": "out"}}


def test_the_key_file_is_private_and_removed_at_shutdown(runtime_dir: Path) -> None:
    port = free_port()
    path = relay.key_path("127.0.0.1", port)
    with serve("tests.apps.dropin:app", port=port, env={"DROPIN_PORT": str(port)}):
        assert path.parent.is_relative_to(runtime_dir)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert len(path.read_bytes()) == 64
    assert not path.exists()


def test_a_script_with_no_server_fails_loudly(runtime_dir: Path) -> None:
    result = run_script(SCRIPT, free_port())
    assert result.returncode != 0
    assert "socketapi.exceptions.RelayError: No socketapi server of this user runs at 127.0.0.1:" in result.stderr


async def test_a_key_with_no_server_listening_fails_loudly(runtime_dir: Path) -> None:
    app = SocketAPI(port=free_port(), broadcast_secret="shared")

    @app.channel("news")
    async def news(text: str) -> dict[str, str]:
        return {"text": text}

    with pytest.raises(RelayError, match="No server answered at http://localhost:"):
        await news(text="lost")


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", relay.PATH, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def signed(key: bytes, body: bytes, *, timestamp: float | None = None, nonce: str | None = None) -> dict[str, str]:
    ts = f"{time.time() if timestamp is None else timestamp:.3f}"
    nonce = nonce or secrets.token_hex(16)
    return {
        "x-socketapi-timestamp": ts,
        "x-socketapi-nonce": nonce,
        "x-socketapi-signature": relay.sign(key, ts, nonce, body),
    }


def envelope(text: str) -> bytes:
    return Broadcast.encode("chat", {"message": text}).to_envelope("outside")


def test_forged_broadcasts_are_refused_and_deliver_nothing(server: Server) -> None:
    client = subscribed(server)
    key = relay.key_path("127.0.0.1", server.port).read_bytes()
    body = envelope("forged")
    assert post(server.port, body, {})[0] == 403  # unsigned
    status, text = post(server.port, body, signed(b"guessed", body))
    assert (status, "bad signature" in text) == (403, True)
    status, text = post(server.port, body, signed(key, body, timestamp=time.time() - 120))
    assert (status, "stale" in text) == (403, True)
    tampered = signed(key, envelope("genuine"))
    assert post(server.port, body, tampered)[0] == 403  # a genuine signature on another body
    replayed = signed(key, envelope("once"))
    assert post(server.port, envelope("once"), replayed)[0] == 204
    status, text = post(server.port, envelope("once"), replayed)
    assert (status, "replayed" in text) == (403, True)
    assert post(server.port, b"not an envelope", signed(key, b"not an envelope"))[0] == 400
    assert post(server.port, envelope("end"), signed(key, envelope("end")))[0] == 204
    # Only the two genuine broadcasts arrived, in order: nothing forged slipped in between.
    assert client.recv()["data"] == {"message": "once"}
    assert client.recv()["data"] == {"message": "end"}
    assert client.call("send_message", {"message": "still here"}) is None  # the server carries on


def test_the_source_address_must_be_allowed_as_well() -> None:
    app = SocketAPI(broadcast_allowed_hosts=("10.0.0.7",), broadcast_secret="shared")
    body = envelope("hi")
    with TestClient(app) as client:  # its requests come from "testclient"
        response = client.post(relay.PATH, content=body, headers=signed(b"shared", body))
    assert response.status_code == 403
    assert "not in broadcast_allowed_hosts" in response.json()["error"]


def test_an_explicit_secret_reaches_a_server_sharing_it(runtime_dir: Path) -> None:
    port = free_port()
    env = {"DROPIN_PORT": str(port), relay.SECRET_ENV: "a shared secret"}
    with serve("tests.apps.dropin:app", port=port, env=env) as running:
        assert not relay.key_path("127.0.0.1", port).exists()  # no key file when a secret is given
        client = subscribed(running)
        refused = run_script(SCRIPT, port, **{relay.SECRET_ENV: "another secret"})
        assert "refused a broadcast on 'chat': HTTP 403" in refused.stderr
        result = run_script(SCRIPT, port, **{relay.SECRET_ENV: "a shared secret"})
        assert result.returncode == 0, result.stderr
        assert client.recv()["data"] == {"message": "from a script"}


def test_the_020_constructor_is_accepted() -> None:
    assert (SocketAPI().server_host, SocketAPI().server_port) == ("localhost", 8000)
    app = SocketAPI("127.0.0.1", 9000, ("10.0.0.1",))  # 0.2.0 took them positionally too
    assert (app.server_host, app.server_port, app.broadcast_allowed_hosts) == ("127.0.0.1", 9000, ("10.0.0.1",))
    assert SocketAPI().broadcast_allowed_hosts == ("127.0.0.1", "::1", "localhost")


def test_an_oversized_broadcast_is_refused() -> None:
    app = SocketAPI(broadcast_allowed_hosts=None, broadcast_secret="shared")
    body = b"x" * (relay.MAX_BODY + 1)
    with TestClient(app) as client:
        response = client.post(relay.PATH, content=body, headers=signed(b"shared", body))
        assert response.status_code == 413
        unsigned = client.post(relay.PATH, content=b"{}")  # refused on its headers alone
        assert (unsigned.status_code, unsigned.json()) == (403, {"error": "unsigned request"})


def test_a_lifespan_run_elsewhere_gives_the_running_servers_key_back(server: Server) -> None:
    """A test suite run (TestClient, same host and port) while a development server runs."""
    path = relay.key_path("127.0.0.1", server.port)
    original = path.read_bytes()
    with TestClient(SocketAPI(host="127.0.0.1", port=server.port)):
        assert path.read_bytes() != original  # replaced while that lifespan runs
    assert path.read_bytes() == original
    client = subscribed(server)
    assert run_script(SCRIPT, server.port).returncode == 0  # the server is still reachable
    assert client.recv()["data"] == {"message": "from a script"}
