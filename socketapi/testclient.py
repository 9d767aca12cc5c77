"""Testing helpers: Starlette's ``TestClient`` (the 0.2.0 import path) and a ChannelTest-style session.

::

    client = TestClient(app)
    with client.socket() as socket:
        assert socket.join("room:1", {"nick": "ann"}) == {"welcome": "ann"}
        ref = socket.push("room:1", "shout", {"text": "hi"})
        assert socket.receive_reply(ref) == {"sent": True}
        assert socket.receive_push("room:1", "shout") == {"from": "ann", "text": "hi"}
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from starlette.testclient import TestClient as _StarletteTestClient
from starlette.testclient import WebSocketTestSession

from .presence.sync import sync_diff, sync_state

__all__ = ["ErrorFrameReceived", "SocketSession", "TestClient"]

Frame = dict[str, Any]


class ErrorFrameReceived(AssertionError):
    """The server answered with an error frame where a success was expected."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(f"server answered with an error: {frame.get('message')!r} ({frame})")
        self.frame = frame
        self.message: str = frame.get("message", "")
        self.code: str | None = frame.get("code")


class SocketSession:
    """One client socket with helpers in the spirit of Phoenix's ChannelTest.

    Every helper sends its frame with a fresh ``ref`` and waits for the answer carrying it;
    frames that arrive meanwhile are kept, in order, for the ``receive_*`` calls that want them.
    Each wait gives up after ``timeout`` seconds, so a missing frame fails the test instead of
    hanging it: the session's blocking ``receive_text`` runs in a helper thread, and a read that
    timed out is picked up by the next wait rather than started twice.
    """

    def __init__(self, websocket: WebSocketTestSession, timeout: float = 5.0) -> None:
        self.websocket = websocket
        self.timeout = timeout
        self._pending: list[Frame] = []
        self._refs = itertools.count(1)
        self._presence: dict[str, dict[str, Any]] = {}
        self.presence_log: list[Frame] = []  # every presence frame applied by the helpers, in order
        self._reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="socketapi-test-read")
        self._reading: concurrent.futures.Future[str] | None = None

    def close(self) -> None:
        """Stop the helper thread (a read still waiting ends when the session closes)."""
        self._reader.shutdown(wait=False)

    @property
    def pending(self) -> list[Frame]:
        """Frames already received but not yet taken by a ``receive_*`` call, oldest first."""
        return list(self._pending)

    # -- raw frames ------------------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        self.websocket.send_text(json.dumps(frame))

    def receive(self) -> Frame:
        """The next frame, whatever it is."""
        if self._pending:
            return self._pending.pop(0)
        return self._read()

    def receive_matching(self, predicate: Callable[[Frame], bool], what: str = "a matching frame") -> Frame:
        for i, frame in enumerate(self._pending):
            if predicate(frame):
                return self._pending.pop(i)
        while True:
            frame = self._read(what)
            if predicate(frame):
                return frame
            self._pending.append(frame)

    def _read(self, what: str = "a frame") -> Frame:
        if self._reading is None:
            self._reading = self._reader.submit(self.websocket.receive_text)
        try:
            text = self._reading.result(self.timeout)
        except concurrent.futures.TimeoutError:
            raise AssertionError(f"no frame within {self.timeout}s while waiting for {what}") from None
        finally:
            if self._reading.done():
                self._reading = None
        frame: Frame = json.loads(text)
        return frame

    # -- helpers -----------------------------------------------------------------------------

    def _request(self, frame: Frame) -> Frame:
        ref = next(self._refs)
        self.send({**frame, "ref": ref})
        answer = self.receive_matching(lambda f: f.get("ref") == ref, f"the answer to {frame}")
        if answer.get("type") == "error":
            raise ErrorFrameReceived(answer)
        return answer

    def call(self, action: str, data: Frame | None = None) -> Any:
        """Call an action and return its result."""
        return self._request({"type": "action", "channel": action, "data": data or {}}).get("data")

    def join(self, topic: str, data: Frame | None = None, *, since: Frame | None = None) -> Any:
        """Subscribe and return the join reply (``None`` if there was none)."""
        return self.subscribe(topic, data, since=since).get("data")

    def subscribe(self, topic: str, data: Frame | None = None, *, since: Frame | None = None) -> Frame:
        """Subscribe and return the whole ``subscribed`` frame (``offset``, ``epoch``, ``recovered``).

        ``since`` is ``{"offset": K, "epoch": E}``: the last broadcast this client saw, to recover from.
        """
        frame: Frame = {"type": "subscribe", "channel": topic, "data": data or {}}
        if since is not None:
            frame["since"] = since
        return self._request(frame)

    def leave(self, topic: str) -> None:
        self._request({"type": "unsubscribe", "channel": topic})

    def push(self, topic: str, event: str, data: Frame | None = None) -> int:
        """Send a client event to a joined channel; returns the ``ref`` to await the reply with."""
        ref = next(self._refs)
        self.send({"type": "event", "channel": topic, "event": event, "data": data or {}, "ref": ref})
        return ref

    def receive_reply(self, ref: int) -> Any:
        """The reply to the event sent with ``ref``; an error frame for it raises ``ErrorFrameReceived``."""
        answer = self.receive_matching(lambda f: f.get("ref") == ref, f"the reply to ref {ref}")
        if answer.get("type") == "error":
            raise ErrorFrameReceived(answer)
        return answer.get("data")

    def receive_push(self, topic: str, event: str | None = None) -> Any:
        """The next push or broadcast on ``topic`` (with ``event``, if given); returns its data."""
        return self.receive_matching(
            lambda f: (
                f.get("type") == "data" and f.get("channel") == topic and (event is None or f.get("event") == event)
            ),
            f"a push on {topic!r}" + (f" with event {event!r}" if event else ""),
        ).get("data")

    def receive_broadcast(self, topic: str, event: str | None = None) -> Frame:
        """The next push or broadcast on ``topic``, whole: with its ``offset`` on a topic with history."""
        return self.receive_matching(
            lambda f: (
                f.get("type") == "data" and f.get("channel") == topic and (event is None or f.get("event") == event)
            ),
            f"a broadcast on {topic!r}" + (f" with event {event!r}" if event else ""),
        )

    # -- presence ------------------------------------------------------------------------------

    def receive_presence_state(self, topic: str) -> dict[str, Any]:
        """The next ``presence_state`` push on ``topic`` (``{key: {"metas": [...]}}``)."""
        frame = self.receive_broadcast(topic, "presence_state")
        self._sync_presence(topic, [frame])
        state: dict[str, Any] = frame["data"]
        return state

    def receive_presence_diff(self, topic: str) -> dict[str, Any]:
        """The next ``presence_diff`` push on ``topic`` (``{"joins": ..., "leaves": ...}``)."""
        frame = self.receive_broadcast(topic, "presence_diff")
        self._sync_presence(topic, [frame])
        diff: dict[str, Any] = frame["data"]
        return diff

    def presence(self, topic: str, until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """The topic's presence as this client knows it, synced as phoenix.js's ``Presence`` does.

        Takes every presence frame of ``topic`` received so far; with ``until``, reads on until
        the state satisfies it (failing the test after ``timeout`` seconds).
        """
        self._sync_presence(topic, self._pending)
        state = self._presence.get(topic, {})
        deadline = time.monotonic() + self.timeout
        while until is not None and not until(state):
            if time.monotonic() > deadline:
                raise AssertionError(f"presence on {topic!r} never matched within {self.timeout}s; it is {state}")
            frame = self._read(f"presence frames on {topic!r}")
            if not self._sync_presence(topic, [frame]):
                self._pending.append(frame)
            state = self._presence.get(topic, {})
        return state

    def _sync_presence(self, topic: str, frames: list[Frame]) -> bool:
        """Apply the presence frames of ``topic`` among ``frames`` and take them out of it."""
        taken = False
        for frame in list(frames):
            if frame.get("type") != "data" or frame.get("channel") != topic:
                continue
            event = frame.get("event")
            if event == "presence_state":
                self._presence[topic] = sync_state(self._presence.get(topic, {}), frame["data"])
            elif event == "presence_diff":
                self._presence[topic] = sync_diff(self._presence.get(topic, {}), frame["data"])
            else:
                continue
            self.presence_log.append(frame)
            frames.remove(frame)
            taken = True
        return taken

    def receive_error(self) -> Frame:
        """The next error frame."""
        return self.receive_matching(lambda f: f.get("type") == "error", "an error frame")


class TestClient(_StarletteTestClient):
    """Starlette's test client, plus :meth:`socket` for the ChannelTest-style helpers."""

    __test__ = False  # not a pytest test class

    @contextlib.contextmanager
    def socket(self, path: str = "/", timeout: float = 5.0, **kwargs: Any) -> Iterator[SocketSession]:
        with self.websocket_connect(path, **kwargs) as websocket:
            session = SocketSession(websocket, timeout)
            try:
                yield session
            finally:
                session.close()
