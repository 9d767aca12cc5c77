"""Every limit a socketapi app enforces, with its default in one place (see docs/security.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

OverflowPolicy = Literal["close", "drop_oldest"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Limits and safety settings; every one is a keyword argument of ``SocketAPI``.

    Attributes:
        max_frame_size: largest client frame, in bytes of UTF-8 text; a larger one closes the socket with 1009.
        max_queue: frames queued for one socket before ``overflow`` applies.
        max_queue_bytes: characters of JSON queued for one socket before ``overflow`` applies.
        overflow: what happens to a socket whose queue is full: ``"close"`` it with 1013 or ``"drop_oldest"``.
        allowed_origins: origins allowed to open a socket (``"*"`` for any); ``None`` allows the
            server's own host only. Clients that send no ``Origin`` (not browsers) are always allowed.
        idle_timeout: seconds a socket may go without sending a frame while subscribed to no channel; then
            it is closed with 1001 (``None``: never). A socket subscribed to a channel is a listener and is
            never idle: whether its peer is alive is the WebSocket pings' business (the ASGI server's).
        max_channels: channels one socket may have joined at once.
        rate_limit: ``(frames per second, burst)`` per socket, or ``None`` (the default) for no limit.
        rate_limit_strikes: frames refused for the rate limit before the socket is closed with 1008.
        action_timeout: seconds an action may run before its caller gets a timeout error; ``None`` to never.
        max_inflight: client frames of one socket whose work is not finished (actions running, channel
            subscribes, events and unsubscribes queued or running). At the bound the server stops reading
            that socket until some work finishes, so TCP pushes back on the client.
        max_inflight_bytes: the same bound in bytes of those frames (a frame is admitted while the total is
            under it, so one frame of ``max_frame_size`` always fits).
        close_timeout: seconds a socket the server closes has to take its queued frames and the close
            frame; then the connection is abandoned. Its subscriptions and ``leave`` hooks do not wait:
            they are torn down at the decision to close.
        hide_error_details: answer unexpected handler exceptions with ``Internal server error.``
            instead of their text (the traceback is logged either way).
        shutdown_timeout: seconds a graceful shutdown waits for sockets to close and ``leave`` hooks
            to finish; the hooks still running then are cancelled.
        subprotocols: WebSocket subprotocols the server accepts, in order of preference.
    """

    max_frame_size: int = 1 * MiB
    max_queue: int = 256
    max_queue_bytes: int = 1 * MiB
    overflow: OverflowPolicy = "close"
    allowed_origins: Sequence[str] | None = None
    idle_timeout: float | None = 60.0
    max_channels: int = 100
    rate_limit: tuple[float, int] | None = None
    rate_limit_strikes: int = 10
    action_timeout: float | None = 30.0
    max_inflight: int = 64
    max_inflight_bytes: int = 4 * MiB
    close_timeout: float = 5.0
    hide_error_details: bool = False
    shutdown_timeout: float = 10.0
    subprotocols: Sequence[str] = ()
