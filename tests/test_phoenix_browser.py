"""phoenix.js in a real browser: headless Debian chromium, driven by Playwright, loading the npm phoenix.mjs.

Playwright's own browser download is never used: the test launches the system ``chromium``.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import serve
from tests.tools import missing, node_module, require

JOIN_AND_LISTEN = """async () => {
    const socket = new window.phoenix.Socket("/socket", {heartbeatIntervalMs: 1000});
    socket.connect();
    window.received = [];
    const room = socket.channel("room:browser", {name: "chromium"});
    room.on("shout", (payload) => window.received.push(payload));
    return await new Promise((resolve) => {
        setTimeout(() => resolve("no answer within 5 s"), 5000);  // page.evaluate itself never times out
        room.join(4000)
            .receive("ok", (response) => resolve({ok: response}))
            .receive("error", (response) => resolve({error: response}))
            .receive("timeout", () => resolve("timeout"));
    });
}"""

# A browser fails the handshake unless the server selects one of the subprotocols it offered:
# with an authToken, phoenix.js offers "phoenix" and the token.
WHOAMI_WITH_TOKEN = """async () => {
    const socket = new window.phoenix.Socket("/socket", {authToken: "browser-token", params: {tab: "1"}});
    socket.connect();
    const room = socket.channel("room:token");
    const answer = (push) => new Promise((resolve) => {
        setTimeout(() => resolve("no answer within 5 s"), 5000);  // page.evaluate itself never times out
        push.receive("ok", (response) => resolve({ok: response}))
            .receive("error", (response) => resolve({error: response}))
            .receive("timeout", () => resolve("timeout"));
    });
    const joined = await answer(room.join(4000));
    const whoami = await answer(room.push("whoami", {}, 4000));
    return {joined, whoami, protocol: socket.conn.protocol};
}"""


def test_phoenix_mjs_in_chromium_joins_receives_a_broadcast_and_sends_its_auth_token() -> None:
    chromium = require("chromium", "install Debian's chromium (Playwright's own browsers are not used)")
    node_module("phoenix")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright (pip) is not installed: pip install -e '.[test]'")
    with serve("tests.apps.phoenix_app:app") as server, sync_playwright() as playwright:
        http = f"http://127.0.0.1:{server.port}"
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{http}/phoenix-test")
            page.wait_for_function("window.phoenix !== undefined", timeout=15_000)
            joined: Any = page.evaluate(JOIN_AND_LISTEN)
            assert joined == {"ok": {"room": "browser", "name": "chromium"}}
            params = {"topic": "room:browser", "event": "shout", "text": "hello, browser"}
            httpx.post(f"{http}/_test/broadcast", params=params, timeout=10).raise_for_status()
            page.wait_for_function("window.received.length > 0", timeout=15_000)
            assert page.evaluate("window.received") == [{"text": "hello, browser"}]
            with_token: Any = page.evaluate(WHOAMI_WITH_TOKEN)
            assert with_token == {
                "joined": {"ok": {"room": "token", "name": "anon"}},
                "whoami": {"ok": {"token": "browser-token", "params": {"tab": "1", "vsn": "2.0.0"}}},
                "protocol": "phoenix",
            }
        finally:
            browser.close()
