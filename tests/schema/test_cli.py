"""``python -m socketapi asyncapi|typescript MODULE:APP``: output, files, and clear errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.support import ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "socketapi", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_asyncapi_prints_the_document_the_app_serves() -> None:
    from example_app import app

    result = run("asyncapi", "example_app:app")
    assert result.returncode == 0, result.stderr
    served = TestClient(app).get("/asyncapi.json").json()
    assert json.loads(result.stdout) == served


def test_asyncapi_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    result = run("asyncapi", "tests.apps.every_handler:app", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "place_order" in {c["address"] for c in json.loads(out.read_text())["channels"].values()}


def test_typescript_prints_and_writes_the_module(tmp_path: Path) -> None:
    printed = run("typescript", "example_app:app", "--client", "/socketapi.js")
    assert printed.returncode == 0, printed.stderr
    assert 'from "/socketapi.js";' in printed.stdout
    assert (
        '  "add_numbers": {\n    args: [data: { a: number; b: number; }, options?: RequestOptions];' in printed.stdout
    )
    out = tmp_path / "api.ts"
    written = run("typescript", "example_app:app", "-o", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_text() == printed.stdout.replace('"/socketapi.js"', '"./socketapi.js"')


def test_the_app_is_found_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text(
        "from socketapi import SocketAPI\napp = SocketAPI(title='Mine', version='2.0')\n"
        "@app.action('hi')\nasync def hi() -> str:\n    return 'hi'\n"
    )
    result = run("asyncapi", "myapp:app", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["info"]["title"] == "Mine"
    assert doc["info"]["version"] == "2.0"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("example_app", "Expected MODULE:APP (e.g. main:app), got 'example_app'"),
        ("example_app:", "Expected MODULE:APP"),
        ("no_such_module:app", "Cannot import 'no_such_module': no module named 'no_such_module'"),
        ("example_app:nope", "Module 'example_app' has no attribute 'nope'"),
        ("example_app.main:add_numbers", "example_app.main:add_numbers is function <function add_numbers"),
        ("example_app.main:app.schema", "is SchemaEndpoints <socketapi.schema.page.SchemaEndpoints object"),
        ("tests.schema.broken_module:app", "Importing 'tests.schema.broken_module' failed: RuntimeError: boom"),
    ],
)
@pytest.mark.parametrize("command", ["asyncapi", "typescript"])
def test_a_bad_target_is_a_clear_error(command: str, target: str, message: str) -> None:
    result = run(command, target)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"socketapi {command}: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    for output in (str(tmp_path / "missing" / "api.json"), str(tmp_path)):
        result = run("asyncapi", "example_app:app", "--output", output)
        assert result.returncode == 2
        assert result.stderr.startswith(f"socketapi asyncapi: Cannot write {output}: ")
        assert "Traceback" not in result.stderr


def test_no_command_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr


def test_a_socketapi_app_mounted_in_starlette_is_described(tmp_path: Path) -> None:
    (tmp_path / "mysite.py").write_text(
        "from starlette.applications import Starlette\n"
        "from starlette.routing import Mount\n"
        "from socketapi import SocketAPI\n"
        "api = SocketAPI(title='Mounted')\n"
        "@api.action('hi')\nasync def hi() -> str:\n    return 'hi'\n"
        "site = Starlette(routes=[Mount('/ws', app=api)])\n"
        "two = Starlette(routes=[Mount('/a', app=api), Mount('/b', app=SocketAPI())])\n"
    )
    result = run("asyncapi", "mysite:site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["info"]["title"] == "Mounted"
    two = run("typescript", "mysite:two", cwd=tmp_path)
    assert two.returncode == 2
    assert two.stderr == "socketapi typescript: mysite:two holds 2 SocketAPI apps; name the one to describe\n"
