"""The official phoenix client, unmodified, against a real uvicorn: tests/js/phoenix.test.mjs under Node's test runner.

The server runs tests/apps/phoenix_app.py on a free loopback port, closes sockets after 1 s
without a frame (so heartbeats are what keeps them), and is relaunched on the same port when
the restart test stops it.
"""

from __future__ import annotations

import re

from tests.phoenix_support import relaunching
from tests.tools import ROOT, node_module, require, run

TEST_FILE = ROOT / "tests" / "js" / "phoenix.test.mjs"


def test_the_phoenix_client_against_a_real_server(transport: str) -> None:
    node = require("node", "install Node 20 or newer")
    node_module("phoenix")
    node_module("ws")
    env = {"PHOENIX_APP_IDLE_TIMEOUT": "1"}
    server = relaunching("tests.apps.phoenix_app:app", env=env, restarts=1, transport=transport)
    with server.running():
        command = [node, "--test", "--test-reporter=spec", "--test-timeout=60000", str(TEST_FILE)]
        output = run(command, timeout=180, env={"SOCKETAPI_HTTP": server.http})
        assert server.launched == 2, "the restart test stopped the server once, and it was relaunched once"
    passed = re.search(r"^\S pass (\d+)$", output, re.MULTILINE)  # the spec reporter's summary
    failed = re.search(r"^\S fail (\d+)$", output, re.MULTILINE)
    assert passed is not None, output
    assert failed is not None, output
    assert int(failed.group(1)) == 0, output
    assert int(passed.group(1)) >= 10, output  # every test ran
