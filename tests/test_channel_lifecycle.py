"""A subscriber's life, each way it can go wrong: failed joins, failing hooks, a backend refusing, timeouts.

Everything is observed as a client sees it (frames) or as the app sees it (its hooks' calls).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import pytest

from socketapi import Channel, Depends, JoinRefused, SocketAPI, on_event
from socketapi.connection import Socket
from socketapi.exceptions import BackendError, FrameError
from socketapi.pubsub import InMemoryBackend
from socketapi.testclient import TestClient
from tests.live import RawSocket, live

calls: list[str] = []


class Flaky(Channel):
    """Its join fails the first time for each socket and works the second."""

    topic = "flaky"

    async def join(self, attempt: int) -> dict[str, int]:
        if attempt == 1:
            raise RuntimeError("join broke")
        return {"attempt": attempt}

    async def leave(self, reason: str) -> None:
        calls.append(f"flaky leave {reason}")


class Noisy(Channel):
    """after_join and leave raise; the subscriber is served all the same."""

    topic = "noisy"

    async def after_join(self) -> None:
        raise RuntimeError("after_join broke")

    async def leave(self, reason: str) -> None:
        calls.append(f"noisy leave {reason}")
        raise RuntimeError("leave broke")


class Quiet(Channel):
    topic = "quiet"

    async def leave(self, reason: str) -> None:
        calls.append(f"quiet leave {reason}")


class Censored(Channel):
    """Intercepts 'say': each subscriber gets the text in capitals, or nothing for 'secret'."""

    topic = "censored"
    intercept = frozenset({"say", "crash"})

    async def handle_out(self, event: str, payload: Any) -> None:
        if event == "crash":
            raise RuntimeError("handle_out broke")
        if payload["text"] != "secret":
            await self.push(event, {"text": payload["text"].upper()})

    @on_event("say")
    async def say(self, text: str) -> None:
        await self.broadcast("say", {"text": text})

    @on_event("crash")
    async def crash(self) -> None:
        await self.broadcast("crash", {})


class Refusing(Channel):
    topic = "refusing"

    async def join(self) -> None:
        raise JoinRefused("Members only.", data={"join": "/members"})


class RefusingBackend(InMemoryBackend):
    """A broker that refuses topics under ``broken/``."""

    async def subscribe(self, topic: str) -> None:
        if topic.startswith("broken/"):
            raise BackendError(f"the broker refused {topic}")
        await super().subscribe(topic)


class Broken(Channel):
    topic = "broken/{name}"

    async def join(self, name: str) -> None:
        calls.append(f"broken join {name}")

    async def leave(self, reason: str) -> None:
        calls.append(f"broken leave {reason}")


gates: dict[str, asyncio.Event] = {}


def gate(name: str) -> asyncio.Event:
    return gates.setdefault(name, asyncio.Event())


def nickname(socket: Socket) -> str:
    return str(socket.assigns.setdefault("nick", f"guest-{socket.id[:4]}"))


class Gated(Channel):
    """Its 'hold' event and its leave wait for a gate: a subscriber with work in progress."""

    topic = "gated"

    @on_event("hold")
    async def hold(self) -> str:
        await gate("hold").wait()
        return "held"

    @on_event("whoami")
    async def whoami(self, nick: Annotated[str, Depends(nickname)], suffix: str = "") -> str:
        return nick + suffix

    async def leave(self, reason: str) -> None:
        calls.append(f"gated leave {reason} started")
        await gate("leave").wait()
        calls.append(f"gated leave {reason} done")


app = SocketAPI(pubsub=RefusingBackend(), action_timeout=0.3, max_channels=2)
app.register(Flaky, Noisy, Quiet, Censored, Refusing, Broken, Gated)


@app.action("open")
async def open_gate(name: str) -> None:
    gate(name).set()


@app.action("announce")
async def announce(text: str) -> None:
    await app.broadcast("gated", {"text": text})


@app.action("sockets")
async def sockets() -> int:
    return app.socket_count


@app.action("sleep")
async def sleep(seconds: float) -> float:
    import asyncio

    await asyncio.sleep(seconds)
    return seconds


@app.action("unserializable")
async def unserializable() -> None:
    raise FrameError("Custom failure.", data={"bad": object()})


client = TestClient(app)


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    calls.clear()
    gates.clear()


def call(ws: Any, action: str, **data: Any) -> Any:
    ws.send_json({"type": "action", "channel": action, "data": data, "ref": action})
    while (answer := ws.receive_json()).get("ref") != action:
        pass
    return answer.get("data")


def wait_for_calls(expected: list[str]) -> None:
    deadline = time.monotonic() + 5
    while sorted(calls) != sorted(expected) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(calls) == sorted(expected)


def test_a_failed_join_reports_and_leaves_the_topic_free_to_join_again() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "flaky", "data": {"attempt": 1}, "ref": 1})
        assert ws.receive_json() == {
            "type": "error",
            "message": "join broke",
            "ref": 1,
            "code": "handler_error",
            "channel": "flaky",
        }
        ws.send_json({"type": "event", "channel": "flaky", "event": "x", "ref": 2})  # not subscribed
        assert ws.receive_json()["code"] == "not_subscribed"
        ws.send_json({"type": "subscribe", "channel": "flaky", "data": {"attempt": 2}, "ref": 3})
        assert ws.receive_json() == {"type": "subscribed", "channel": "flaky", "data": {"attempt": 2}, "ref": 3}
    wait_for_calls(["flaky leave closed"])  # one leave: the failed join had none


def test_a_refused_join_sends_its_data() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "refusing", "ref": "r"})
        assert ws.receive_json() == {
            "type": "error",
            "message": "Members only.",
            "data": {"join": "/members"},
            "ref": "r",
            "code": "join_refused",
            "channel": "refusing",
        }


def test_failing_after_join_and_leave_hooks_are_reported_and_the_socket_carries_on() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "noisy"})
        assert ws.receive_json() == {"type": "subscribed", "channel": "noisy"}
        assert ws.receive_json() == {"type": "error", "message": "after_join broke"}
        ws.send_json({"type": "unsubscribe", "channel": "noisy", "ref": "u"})
        frames = [ws.receive_json(), ws.receive_json()]
        assert {"type": "error", "message": "leave broke"} in frames  # an unsubscribe's leave: told
        assert {"type": "unsubscribed", "channel": "noisy", "ref": "u"} in frames
        ws.send_json({"type": "subscribe", "channel": "noisy"})
        assert ws.receive_json()["type"] == "subscribed"
        ws.receive_json()  # after_join's error again
        ws.send_json({"type": "subscribe", "channel": "quiet"})
        assert ws.receive_json()["type"] == "subscribed"
    # on close a leave that raises is logged, and every other leave still runs
    wait_for_calls(["noisy leave left", "noisy leave closed", "quiet leave closed"])


def test_a_backend_refusing_the_topic_fails_the_join_and_runs_leave_with_error() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "broken/1", "ref": 5})
        answer = ws.receive_json()
        assert answer == {
            "type": "error",
            "message": "the broker refused broken/1",
            "ref": 5,
            "code": "handler_error",
            "channel": "broken/1",
        }
        ws.send_json({"type": "subscribe", "channel": "quiet"})  # the socket carries on
        assert ws.receive_json()["type"] == "subscribed"
    wait_for_calls(["broken join 1", "broken leave error", "quiet leave closed"])


def test_intercepted_broadcasts_are_rewritten_or_dropped_per_subscriber() -> None:
    with client.websocket_connect("/") as a, client.websocket_connect("/") as b:
        for ws in (a, b):
            ws.send_json({"type": "subscribe", "channel": "censored"})
            assert ws.receive_json()["type"] == "subscribed"
        a.send_json({"type": "event", "channel": "censored", "event": "say", "data": {"text": "secret"}})
        a.send_json({"type": "event", "channel": "censored", "event": "say", "data": {"text": "hi"}})
        for ws in (a, b):  # 'secret' never reached anyone
            assert ws.receive_json() == {"type": "data", "channel": "censored", "event": "say", "data": {"text": "HI"}}
        a.send_json({"type": "event", "channel": "censored", "event": "crash"})
        for ws in (a, b):
            assert ws.receive_json() == {"type": "error", "message": "handle_out broke"}
        a.send_json({"type": "event", "channel": "censored", "event": "say", "data": {"text": "still"}})
        for ws in (a, b):  # still subscribed
            assert ws.receive_json()["data"] == {"text": "STILL"}


def test_actions_time_out_each_at_its_own_deadline_and_the_rest_is_served() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "sleep", "data": {"seconds": 5}, "ref": "a"})
        time.sleep(0.1)
        ws.send_json({"type": "action", "channel": "sleep", "data": {"seconds": 5}, "ref": "b"})
        ws.send_json({"type": "action", "channel": "sleep", "data": {"seconds": 0.05}, "ref": "quick"})
        answers = [ws.receive_json() for _ in range(3)]
        assert [a["ref"] for a in answers] == ["quick", "a", "b"]  # each at its own deadline
        assert answers[0]["data"] == 0.05
        for answer in answers[1:]:
            assert answer["code"] == "timeout"
            assert answer["message"] == "Action 'sleep' timed out after 0.3s."
        ws.send_json({"type": "action", "channel": "sleep", "data": {"seconds": 0.2}, "ref": "c"})
        assert ws.receive_json()["data"] == 0.2  # under the limit: answered


def test_an_error_whose_data_cannot_be_encoded_still_reaches_the_client() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "action", "channel": "unserializable", "ref": 1})
        answer = ws.receive_json()
        assert answer["type"] == "error"
        assert answer["ref"] == 1
        assert answer["message"] == "Custom failure."
        assert answer["channel"] == "unserializable"  # the fallback frame answers the same call
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


@pytest.mark.parametrize(("hide", "message"), [(False, "join broke"), (True, "Internal server error.")])
def test_hidden_error_details_hide_handler_exceptions_only(hide: bool, message: str) -> None:
    hidden = SocketAPI(hide_error_details=hide)
    hidden.register(Flaky)
    with TestClient(hidden).websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "flaky", "data": {"attempt": 1}})
        assert ws.receive_json() == {"type": "error", "message": message}
        ws.send_json({"type": "subscribe", "channel": "flaky", "data": {"attempt": "x"}})
        assert ws.receive_json()["message"] == "Invalid parameters for action 'flaky'"  # ours: always told


def test_unsubscribing_from_a_channel_never_joined_answers_with_the_ref() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "unsubscribe", "channel": "quiet", "ref": 9})
        assert ws.receive_json() == {"type": "unsubscribed", "channel": "quiet", "ref": 9}


def test_failed_joins_do_not_count_against_max_channels() -> None:
    with client.websocket_connect("/") as ws:
        for attempt in (1, 1, 1):  # three failed joins of one topic ...
            ws.send_json({"type": "subscribe", "channel": "flaky", "data": {"attempt": attempt}})
            assert ws.receive_json()["type"] == "error"
        for topic in ("quiet", "censored"):  # ... leave room for max_channels=2 others
            ws.send_json({"type": "subscribe", "channel": topic})
            assert ws.receive_json() == {"type": "subscribed", "channel": topic}
        ws.send_json({"type": "subscribe", "channel": "gated", "ref": 1})
        assert ws.receive_json()["code"] == "too_many_channels"


def test_no_broadcast_reaches_a_subscriber_once_it_asked_to_leave() -> None:
    with client.websocket_connect("/") as ws, client.websocket_connect("/") as other:
        ws.send_json({"type": "subscribe", "channel": "gated"})
        assert ws.receive_json()["type"] == "subscribed"
        ws.send_json({"type": "event", "channel": "gated", "event": "hold", "ref": "h"})  # busy ...
        ws.send_json({"type": "unsubscribe", "channel": "gated", "ref": "u"})  # ... so this waits its turn
        ws.send_json({"type": "ping", "ref": "p"})
        assert ws.receive_json() == {"type": "pong", "ref": "p"}  # the unsubscribe frame was read
        call(other, "announce", text="after the unsubscribe")
        call(other, "open", name="hold")
        call(other, "open", name="leave")
        assert ws.receive_json() == {
            "type": "reply",
            "channel": "gated",
            "event": "hold",
            "status": "ok",
            "data": "held",
            "ref": "h",
        }
        assert ws.receive_json() == {"type": "unsubscribed", "channel": "gated", "ref": "u"}
        ws.send_json({"type": "ping", "ref": "q"})
        assert ws.receive_json() == {"type": "pong", "ref": "q"}  # and no data frame came in between


def test_a_disconnect_waits_for_an_unsubscribe_in_progress_and_runs_leave_once() -> None:
    own = SocketAPI()
    own.register(Gated)
    own.action("open")(open_gate)

    @own.action("sockets")
    async def count() -> int:
        return own.socket_count

    def ask(ws: RawSocket, action: str, **data: Any) -> Any:
        ws.send({"type": "action", "channel": action, "data": data, "ref": action})
        return ws.receive().get("data")

    with live(own) as server:
        ws = RawSocket(server.port)
        ws.send({"type": "subscribe", "channel": "gated"})
        assert ws.receive() == {"type": "subscribed", "channel": "gated"}
        ws.send({"type": "unsubscribe", "channel": "gated"})
        wait_for_calls(["gated leave left started"])
        ws.close()  # gone while its leave runs
        observer = RawSocket(server.port)
        time.sleep(0.2)
        assert ask(observer, "sockets") == 2  # its teardown waits for the leave in progress ...
        ask(observer, "open", name="leave")
        wait_for_calls(["gated leave left started", "gated leave left done"])  # ... which runs once, "left"
        deadline = time.monotonic() + 5
        while ask(observer, "sockets") != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ask(observer, "sockets") == 1
        observer.close()


def test_event_handlers_get_dependencies_and_the_socket() -> None:
    with client.websocket_connect("/") as ws:
        ws.send_json({"type": "subscribe", "channel": "gated"})
        assert ws.receive_json()["type"] == "subscribed"
        ws.send_json({"type": "event", "channel": "gated", "event": "whoami", "data": {"suffix": "!"}, "ref": 1})
        answer = ws.receive_json()
        assert answer["data"].startswith("guest-")
        assert answer["data"].endswith("!")
        ws.send_json({"type": "event", "channel": "gated", "event": "whoami", "data": {"suffix": 5}, "ref": 2})
        answer = ws.receive_json()
        assert answer["code"] == "invalid_params"
        assert answer["message"] == "Invalid parameters for event 'whoami'"
        gate("leave").set()
