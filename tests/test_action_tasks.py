"""An action sees one task from its first line to its last, whichever way the engine runs it.

On Python 3.11 an action starts in the task that read its frame and, if it waits, keeps that
task while reading goes on in a new one (``Supervisor.adopts``); on 3.12+ it is an eager task of
its own. Either way ``asyncio.current_task()``, ``asyncio.timeout`` and cancellation behave as in
any task, a waiting action holds up none of the socket's other frames, and a disconnect cancels
it. Each test runs against a real uvicorn in this process.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time

from socketapi import SocketAPI
from tests.live import RawSocket, live, wait_until

events: list[str] = []


def make_app(**limits: float) -> SocketAPI:
    app = SocketAPI(**limits)  # type: ignore[arg-type]

    @app.action("timed")
    async def timed(delay: float, limit: float) -> dict[str, object]:
        """Waits ``delay`` under a timeout of ``limit``; says how it ended and whether its task stayed the same."""
        first = asyncio.current_task()
        try:
            async with asyncio.timeout(limit):
                await asyncio.sleep(delay)
            outcome = "done"
        except TimeoutError:
            outcome = "timeout"
        return {"outcome": outcome, "same_task": asyncio.current_task() is first}

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.action("sleeper")
    async def sleeper(name: str) -> str:
        events.append(f"{name} started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append(f"{name} cancelled")
            raise
        return name

    @app.action("yields")
    async def yields(times: int) -> int:
        for _ in range(times):
            await asyncio.sleep(0)  # a bare yield each time
        return times

    return app


def call(client: RawSocket, action: str, ref: int, **data: object) -> None:
    client.send({"type": "action", "channel": action, "data": data, "ref": ref})


def replies(client: RawSocket, count: int) -> dict[object, dict[str, object]]:
    """The next ``count`` frames, by ref."""
    frames = [client.receive() for _ in range(count)]
    return {frame.get("ref"): frame for frame in frames}


def test_a_waiting_action_keeps_its_task_and_its_timeout() -> None:
    with live(make_app()) as server:
        client = RawSocket(server.port)
        try:
            call(client, "timed", 1, delay=30, limit=0.2)  # waits; its own timeout ends it
            call(client, "timed", 2, delay=0.05, limit=30)  # waits; finishes
            call(client, "add", 3, a=2, b=3)  # never waits
            client.send({"type": "ping", "ref": 4})
            got = replies(client, 4)
            assert got[1]["data"] == {"outcome": "timeout", "same_task": True}
            assert got[2]["data"] == {"outcome": "done", "same_task": True}
            assert got[3]["data"] == 5
            assert got[4]["type"] == "pong"
            # The socket reads on after all of them: nothing was lost with the tasks handed over.
            call(client, "add", 5, a=1, b=1)
            assert client.receive()["data"] == 2
        finally:
            client.close()


def test_a_waiting_action_holds_up_none_of_the_other_frames() -> None:
    with live(make_app()) as server:
        client = RawSocket(server.port)
        try:
            call(client, "timed", 1, delay=2.0, limit=30)
            started = time.monotonic()
            for ref in range(2, 12):
                call(client, "add", ref, a=ref, b=0)
            fast = replies(client, 10)
            assert time.monotonic() - started < 1.5  # all answered while the first still waits
            assert {ref: frame["data"] for ref, frame in fast.items()} == {ref: ref for ref in range(2, 12)}
            assert client.receive(timeout=10)["data"] == {"outcome": "done", "same_task": True}
        finally:
            client.close()


def test_many_waiting_actions_at_once_all_answer() -> None:
    with live(make_app()) as server:
        client = RawSocket(server.port)
        try:
            for ref in range(1, 41):
                call(client, "yields", ref, times=ref % 5 + 1)
            got = replies(client, 40)
            assert {ref: frame["data"] for ref, frame in got.items()} == {ref: ref % 5 + 1 for ref in range(1, 41)}
        finally:
            client.close()


def test_the_action_timeout_cancels_a_waiting_action_and_the_socket_carries_on() -> None:
    with live(make_app(action_timeout=0.2)) as server:
        client = RawSocket(server.port)
        try:
            call(client, "timed", 1, delay=30, limit=60)
            error = client.receive(timeout=10)
            assert error["type"] == "error"
            assert error["ref"] == 1
            assert error["code"] == "timeout"
            assert error["message"] == "Action 'timed' timed out after 0.2s."
            call(client, "add", 2, a=20, b=22)
            assert client.receive()["data"] == 42
        finally:
            client.close()


def test_a_disconnect_cancels_every_waiting_action() -> None:
    events.clear()
    app = make_app()
    with live(app) as server:
        client = RawSocket(server.port)
        for name in ("one", "two", "three"):
            call(client, "sleeper", 1, name=name)
        wait_until(lambda: len(events) == 3, "three sleepers to start")
        client.close()
        wait_until(lambda: len(events) == 6, "three sleepers to be cancelled")
    assert sorted(events[3:]) == ["one cancelled", "three cancelled", "two cancelled"]


def test_context_variables_per_call_as_documented() -> None:
    """docs/actions.md: on 3.12+ each call has its own context; on 3.11 (ASGI) a call that never
    waits runs in the reading task's context, so what it set is seen by the next call."""
    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")
    app = SocketAPI()

    @app.action("mark")
    async def mark(value: str) -> str:
        before = seen.get()
        seen.set(value)
        return before

    with live(app) as server:
        client = RawSocket(server.port)
        try:
            call(client, "mark", 1, value="first")
            assert client.receive()["data"] == "unset"
            call(client, "mark", 2, value="second")
            expected = "unset" if sys.version_info >= (3, 12) else "first"
            assert client.receive()["data"] == expected
        finally:
            client.close()
