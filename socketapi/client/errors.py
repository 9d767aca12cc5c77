"""The one exception the client raises to its caller."""

from __future__ import annotations

from typing import Any


class SocketError(Exception):
    """A request failed: an error frame from the server, or one of the client's own conditions.

    ``code`` is the server's machine-readable code (``"unknown_action"``, ``"invalid_params"``,
    ``"join_refused"``, ``"handler_error"``, ...) or the client's own: ``"timeout"`` (no answer in
    time), ``"disconnected"`` (the connection was lost, or is down with
    ``while_disconnected="reject"``), ``"closed"`` (the socket was disconnected, or the channel
    left), ``"connect_failed"`` (the first connection attempt failed).
    """

    def __init__(
        self,
        message: str,
        code: str,
        *,
        data: Any = None,
        channel: str | None = None,
        frame: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data
        self.channel = channel
        self.frame = frame

    def __repr__(self) -> str:
        return f"SocketError({self.message!r}, {self.code!r})"

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> SocketError:
        return cls(
            str(frame.get("message", "")),
            str(frame.get("code", "error")),
            data=frame.get("data"),
            channel=frame.get("channel"),
            frame=frame,
        )
