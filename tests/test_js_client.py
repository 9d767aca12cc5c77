"""socketapi.js: its node --test files (logic on plain data; against a real uvicorn) and its types under tsc."""

from __future__ import annotations

import sys
import uuid

from tests.pubsub.redis_support import REDIS_URL, ping, unavailable
from tests.tools import node_module, require, run


def test_js_client_logic_on_plain_data() -> None:
    node = require("node", "Node 20+ runs the JavaScript client's tests")
    node_module("phoenix")  # the Presence test compares with phoenix.js
    output = run([node, "--test", "--test-timeout=20000", "tests/js/unit.test.mjs"], timeout=60)
    assert "# fail 0" in output


def test_js_client_against_a_real_server() -> None:
    """Calls, errors, timeouts, channels, reconnect after a restart, rejoin, heartbeats (tests/js/socket.test.mjs)."""
    node = require("node", "Node 20+ runs the JavaScript client's tests")
    node_module("ws")
    output = run(
        [node, "--test", "--test-timeout=60000", "tests/js/socket.test.mjs"],
        timeout=240,
        env={"PYTHON": sys.executable},
    )
    assert "# fail 0" in output


def test_js_client_presence_and_recovery() -> None:
    """Presence lists across sockets; no broadcast missed across a restart (tests/js/live.test.mjs, Redis)."""
    node = require("node", "Node 20+ runs the JavaScript client's tests")
    node_module("ws")
    reason = ping(REDIS_URL)
    if reason is not None:
        unavailable(f"Redis is unreachable at {REDIS_URL}: {reason}")
    pubsub = f"{REDIS_URL}?prefix=clients-{uuid.uuid4().hex[:12]}:"
    output = run(
        [node, "--test", "--test-timeout=90000", "tests/js/live.test.mjs"],
        timeout=300,
        env={"PYTHON": sys.executable, "CLIENTS_TEST_PUBSUB": pubsub},
    )
    assert "# fail 0" in output
    assert "# skipped 0" in output


def test_typescript_declarations_compile_strict() -> None:
    require("node", "Node 20+ runs tsc")
    tsc = node_module("typescript") / "bin" / "tsc"
    options = ["--strict", "--noEmit", "--target", "es2022", "--module", "nodenext", "--lib", "es2022,dom"]
    run(["node", str(tsc), *options, "tests/js/types.ts"], timeout=120)
