"""The example app's page in a real browser (Debian's chromium, headless, driven by Playwright)."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pubsub.redis_support import REDIS_URL, ping, unavailable
from tests.support import serve
from tests.tools import missing

APP = "example_app:app"
WAIT_MS = 15000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("chromium is not installed (apt-get install chromium; .ci/run does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing('playwright is not installed: pip install -e ".[test]"')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_chat(browser: Any, base: str, nick: str) -> Any:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base)
    page.wait_for_selector("#status[data-state=open]")
    page.fill("#nick", nick)
    page.click("#join-form button")
    page.wait_for_selector("#room:not([hidden])")
    page.errors = errors
    return page


def say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def wait_for_message(page: Any, text: str) -> None:
    page.wait_for_selector(f"#messages li:text-is({text!r})")


def wait_for_people(page: Any, *nicks: str) -> None:
    """Until the page's presence list shows exactly ``nicks``."""
    page.wait_for_function(
        "expected => JSON.stringify([...document.querySelectorAll('#people li')].map(li => li.textContent).sort())"
        " === JSON.stringify(expected)",
        arg=sorted(nicks),
    )


def test_two_pages_chat_and_call_an_action(browser: Any) -> None:
    with serve(APP) as server:
        base = f"http://127.0.0.1:{server.port}/"
        ann = open_chat(browser, base, "ann")
        bob = open_chat(browser, base, "bob")
        wait_for_message(ann, "bob joined")
        wait_for_people(ann, "ann", "bob")
        wait_for_people(bob, "ann", "bob")
        say(bob, "hello ann")
        wait_for_message(ann, "bob: hello ann")
        wait_for_message(bob, "bob: hello ann")
        say(ann, "hi bob")
        wait_for_message(bob, "ann: hi bob")

        ann.fill("#a", "6")
        ann.fill("#b", "7")
        ann.click("#multiply-form button")
        ann.wait_for_selector("#product:text-is('42')")
        ann.fill("#a", "")  # an empty field: not an int
        ann.click("#multiply-form button")
        ann.wait_for_function("document.querySelector('#product').value.endsWith('(invalid_params)')")

        bob.close()
        wait_for_message(ann, "bob left")
        wait_for_people(ann, "ann")
        assert ann.errors == []


def test_a_refused_join_is_shown_and_the_page_carries_on(browser: Any) -> None:
    with serve(APP) as server:
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#status[data-state=open]")
        page.fill("#nick", "   ")  # only spaces: the channel's join refuses it
        page.click("#join-form button")
        page.wait_for_selector("#join-error:text-is('A nickname is required. (join_refused)')")
        page.fill("#nick", "ann")
        page.click("#join-form button")
        page.wait_for_selector("#room:not([hidden])")


def test_the_pages_reconnect_and_rejoin_after_a_server_restart(browser: Any) -> None:
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(serve(APP))
        base = f"http://127.0.0.1:{server.port}/"
        ann = open_chat(browser, base, "ann")
        bob = open_chat(browser, base, "bob")
        stack.close()  # the server stops (closing the sockets with 1001)
        for page in (ann, bob):
            page.wait_for_selector("#status[data-state=closed]:text-is('reconnecting…')")
        with serve(APP, port=server.port):
            for page in (ann, bob):
                page.wait_for_function("window.chat.room()?.state === 'joined'", timeout=WAIT_MS)
                page.wait_for_selector("#status[data-state=open]")
            say(bob, "still here?")
            wait_for_message(ann, "bob: still here?")
        assert ann.errors == []
        assert bob.errors == []


@pytest.fixture
def redis_pubsub() -> str:
    """A Redis URL with a prefix of this test's own: the example app's history then outlives a restart."""
    reason = ping(REDIS_URL)
    if reason is not None:
        unavailable(f"Redis is unreachable at {REDIS_URL}: {reason}")
    return f"{REDIS_URL}?prefix=clients-{uuid.uuid4().hex[:12]}:"


def test_no_message_is_lost_across_a_server_restart(browser: Any, redis_pubsub: str) -> None:
    """Messages typed while the server is down arrive once it is back, on every page, once each."""
    env = {"CLIENTS_TEST_PUBSUB": redis_pubsub}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(serve("tests.apps.example_on_redis:app", env=env))
        base = f"http://127.0.0.1:{server.port}/"
        ann = open_chat(browser, base, "ann")
        bob = open_chat(browser, base, "bob")
        wait_for_people(ann, "ann", "bob")
        say(ann, "before")
        wait_for_message(bob, "ann: before")
        stack.close()
        for page in (ann, bob):
            page.wait_for_selector("#status[data-state=closed]")
        say(ann, "while down, from ann")  # each waits for the connection (the push's timeout is 10 s)
        say(bob, "while down, from bob")
        with serve("tests.apps.example_on_redis:app", env=env, port=server.port):
            for page in (ann, bob):
                for text in ("ann: while down, from ann", "bob: while down, from bob"):
                    wait_for_message(page, text)
                wait_for_people(page, "ann", "bob")
            say(bob, "after")
            wait_for_message(ann, "bob: after")
        for page in (ann, bob):
            texts = page.eval_on_selector_all("#messages li", "items => items.map(li => li.textContent)")
            shouts = [t for t in texts if ": " in t]
            assert len(shouts) == len(set(shouts)), f"a message twice: {texts}"
            assert "(reconnected; some messages may be missing)" not in texts
            assert page.errors == []
