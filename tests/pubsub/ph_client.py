"""A WebSocket client for the presence and history tests on real nodes; every wait is bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection

from socketapi.presence import sync_diff, sync_state

Frame = dict[str, Any]
TIMEOUT = 10.0


class Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pending: list[Frame] = []
        self.presence: dict[str, dict[str, Any]] = {}
        self.presence_log: list[Frame] = []  # every presence frame received, in order
        self._refs = 0

    def send(self, frame: Frame) -> None:
        self.ws.send(json.dumps(frame))

    def _recv(self, deadline: float, what: str) -> Frame:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            frame: Frame = json.loads(self.ws.recv(timeout=left))
        except TimeoutError:
            raise AssertionError(f"nothing within the time allowed while waiting for {what}") from None
        event = frame.get("event")
        if frame.get("type") == "data" and event in ("presence_state", "presence_diff"):
            topic = frame["channel"]
            self.presence_log.append(frame)
            sync = sync_state if event == "presence_state" else sync_diff
            self.presence[topic] = sync(self.presence.get(topic, {}), frame["data"])
        return frame

    def expect(self, predicate: Callable[[Frame], bool], what: str, timeout: float = TIMEOUT) -> Frame:
        for i, frame in enumerate(self.pending):
            if predicate(frame):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            frame = self._recv(deadline, what)
            if predicate(frame):
                return frame
            assert frame.get("type") != "error", frame
            self.pending.append(frame)

    def request(self, frame: Frame) -> Frame:
        self._refs += 1
        ref = self._refs
        self.send({**frame, "ref": ref})
        return self.expect(lambda f: f.get("ref") == ref, f"the answer to {frame}")

    def start_call(self, action: str, **data: Any) -> int:
        """Send an action without waiting for its result; returns the ref to wait on."""
        self._refs += 1
        self.send({"type": "action", "channel": action, "data": data, "ref": self._refs})
        return self._refs

    def result(self, ref: int, timeout: float = 60.0) -> Any:
        return self.expect(lambda f: f.get("ref") == ref, f"the result of call {ref}", timeout).get("data")

    def call(self, action: str, **data: Any) -> Any:
        return self.result(self.start_call(action, **data))

    def subscribe(self, topic: str, data: Frame | None = None, since: Frame | None = None) -> Frame:
        frame: Frame = {"type": "subscribe", "channel": topic, "data": data or {}}
        if since is not None:
            frame["since"] = since
        answer = self.request(frame)
        assert answer["type"] == "subscribed", answer
        return answer

    def broadcast(self, topic: str, timeout: float = TIMEOUT) -> Frame:
        return self.expect(
            lambda f: f.get("type") == "data" and f["channel"] == topic and "offset" in f,
            f"a broadcast on {topic}",
            timeout,
        )

    def wait_presence(self, topic: str, until: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT) -> float:
        """Read until this client's copy of ``topic``'s presence satisfies ``until``; returns the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        self.pending = [f for f in self.pending if f.get("event") not in ("presence_state", "presence_diff")]
        while not until(self.presence.get(topic, {})):
            frame = self._recv(deadline, f"presence on {topic} to match (it is {self.presence.get(topic)})")
            if frame.get("event") not in ("presence_state", "presence_diff"):
                self.pending.append(frame)
        return time.monotonic() - start

    def close(self) -> None:
        self.ws.close()
