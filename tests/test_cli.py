"""``socketapi run``: serves an app with uvicorn settings that match it, started and stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError

from socketapi import SocketAPI
from socketapi.cli import main, parser, uvicorn_settings

from .support import ROOT, Client, _wait_listening, free_port, stop


@contextlib.contextmanager
def socketapi_run(*args: str, log: Path) -> Iterator[int]:
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "socketapi", "run", *args, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_listening(process, port, 20)
            yield port
        finally:
            stop(process)


def test_run_serves_with_the_apps_frame_limit_inside_uvicorn(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with socketapi_run("tests.apps.small_frames:app", "--host", "127.0.0.1", log=log) as port:
        client = Client(f"ws://127.0.0.1:{port}/")  # negotiates permessage-deflate
        assert client.call("echo", {"text": "a" * 60_000}) == "a" * 60_000  # under the limit: served
        # 200 KB of one letter compresses to a few hundred bytes: refused as it inflates past
        # 64 KiB, by uvicorn itself (under plain uvicorn it would inflate to 200 KB first).
        client.send({"type": "action", "channel": "echo", "data": {"text": "a" * 200_000}})
        with pytest.raises(ConnectionClosedError) as closed:
            client.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        assert "exceeds limit of 65536 bytes" in closed.value.rcvd.reason
        other = Client(f"ws://127.0.0.1:{port}/")
        assert other.call("echo", {"text": "still serving"}) == "still serving"
        other.send({"type": "action", "channel": "fail", "ref": 1})
        assert other.recv()["code"] == "handler_error"
    text = log.read_text()
    # socketapi's own lines are shown, with time and level; handler tracebacks carry the socket id.
    assert re.search(r"\d\d:\d\d:\d\d,\d+ ERROR +socketapi: Socket \w+: handler for 'fail' raised\nTraceback", text)
    assert "RuntimeError: boom in a handler" in text


def test_run_with_reload_serves(tmp_path: Path) -> None:
    with socketapi_run("tests.apps.small_frames:app", "--reload", "--host", "127.0.0.1", log=tmp_path / "log") as port:
        assert Client(f"ws://127.0.0.1:{port}/").call("echo", {"text": "hi"}) == "hi"


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "socketapi"
    result = subprocess.run([str(script), "run", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "--reload" in result.stdout


def test_settings_follow_the_app_and_the_host_and_port_default_to_its_own() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = SocketAPI(host="127.0.0.1", port=9100, max_frame_size=4096)
    settings = uvicorn_settings(app)
    assert settings["ws_max_size"] == 4096
    assert (settings["ws_ping_interval"], settings["ws_ping_timeout"]) == (20.0, 20.0)
    outer = Starlette(routes=[Mount("/ws", app=app)])  # mounted: the limit is found inside
    assert uvicorn_settings(outer)["ws_max_size"] == 4096
    args = parser().parse_args(["run", "main:app"])
    assert (args.host, args.port, args.reload) == (None, None, False)


def test_a_bad_target_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no_colon"]) == 2
    assert "Expected MODULE:APP" in capsys.readouterr().err
    assert main(["run", "tests.apps.small_frames:nothing"]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])  # a subcommand is required
    assert json.dumps(uvicorn_settings(object())["log_config"])  # plain data, usable as a log config


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_a_bad_tcp_user_timeout_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "tests.apps.small_frames:app", "--tcp-user-timeout", value])
    assert exited.value.code == 2
    assert "--tcp-user-timeout" in capsys.readouterr().err


def test_a_port_in_use_is_reported_without_starting(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["run", "tests.apps.small_frames:app", "--host", "127.0.0.1", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_direct_transport_refuses_what_it_cannot_serve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "tests.apps.small_frames:app", "--transport", "direct", "--reload"]) == 2
    assert "--reload needs --transport asgi" in capsys.readouterr().err
    outer = tmp_path / "outer_app.py"  # a SocketAPI app mounted inside a plain Starlette app
    outer.write_text(
        "from starlette.applications import Starlette\nfrom starlette.routing import Mount\n"
        "from tests.apps.small_frames import app as inner\napp = Starlette(routes=[Mount('/ws', inner)])\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["run", "outer_app:app", "--transport", "direct"]) == 2
    finally:
        sys.path.remove(str(tmp_path))
    assert "is not a SocketAPI app: the direct transport serves a SocketAPI app itself" in capsys.readouterr().err
