"""The per-socket input limits, frame by frame: the rate limit's bucket and strikes, the idle clock."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from socketapi import SocketAPI
from socketapi.testclient import TestClient

REFUSED = {"type": "error", "message": "Rate limit exceeded; frame dropped."}


def session(**limits: Any) -> Any:
    return TestClient(SocketAPI(**limits)).websocket_connect("/")


def ping(ws: Any, ref: int) -> dict[str, Any]:
    ws.send_json({"type": "ping", "ref": ref})
    answer: dict[str, Any] = ws.receive_json()
    return answer


def test_the_burst_is_served_then_frames_are_refused_until_tokens_come_back() -> None:
    with session(rate_limit=(2.0, 3), rate_limit_strikes=100) as ws:  # 2 frames a second, bursts of 3
        assert [ping(ws, i) for i in range(4)] == [{"type": "pong", "ref": i} for i in range(3)] + [REFUSED]
        time.sleep(0.6)  # 1.2 tokens back
        assert ping(ws, 10) == {"type": "pong", "ref": 10}
        assert ping(ws, 11) == REFUSED  # 0.2 of a token is not a frame


def test_tokens_never_pile_up_beyond_the_burst() -> None:
    with session(rate_limit=(20.0, 2), rate_limit_strikes=100) as ws:
        time.sleep(0.5)  # 10 tokens' worth of waiting, capped at the burst of 2
        assert [ping(ws, i)["type"] for i in range(3)] == ["pong", "pong", "error"]


def test_the_socket_is_closed_at_exactly_the_strike_limit() -> None:
    with session(rate_limit=(2.0, 1), rate_limit_strikes=3) as ws:
        assert ping(ws, 0)["type"] == "pong"
        assert ping(ws, 1) == REFUSED  # strike 1
        assert ping(ws, 2) == REFUSED  # strike 2: still open ...
        time.sleep(0.6)
        assert ping(ws, 3) == {"type": "pong", "ref": 3}  # ... and served again once a token is back
        ws.send_json({"type": "ping"})  # strike 3: closed, without an answer
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert (closed.value.code, closed.value.reason) == (1008, "Rate limit exceeded")


def test_without_a_rate_limit_nothing_is_refused() -> None:
    with session() as ws:
        assert {ping(ws, i)["type"] for i in range(200)} == {"pong"}


def test_any_frame_resets_the_idle_clock() -> None:
    with session(idle_timeout=0.4) as ws:
        for i in range(8):  # 1.2 s of activity, 0.15 s apart: three timeouts' worth
            time.sleep(0.15)
            assert ping(ws, i) == {"type": "pong", "ref": i}
        started = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()  # now silent: closed once the timeout has passed, not before
        assert closed.value.code == 1001
        assert time.monotonic() - started >= 0.3
