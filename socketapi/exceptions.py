"""The exceptions socketapi raises, and the error frames they become.

    SocketAPIError
     ├── ImproperlyConfigured      a handler or setting is wrong; raised at registration
     ├── BackendError              the pub/sub backend failed or was used before connect()
     │    └── RelayError            a script's broadcast reached no server, or the server refused it
     └── FrameError                answered to the client as an error frame, socket stays open
          ├── InvalidFrame          not a JSON object, bad field types, binary frame
          │    └── UnknownMessageType
          ├── UnknownAction
          ├── UnknownChannel
          ├── UnknownEvent
          ├── NotSubscribed
          ├── InvalidParameters     the client's data failed validation
          ├── JoinRefused           raised by Channel.join to refuse a subscriber
          ├── LimitExceeded         a per-socket limit (channels joined, rate, action time)
          └── HandlerError          wraps any other exception a handler raised
     ConnectRefused                raise from the connect hook to refuse a socket (HTTP 403)

Every ``FrameError`` carries the exact message the client sees and a stable machine-readable
``code`` (sent with the error when the client's frame had a ``ref``). Any other exception
escaping a handler is reported with ``str(exc)`` and the code ``handler_error``.
"""

from __future__ import annotations

from typing import Any

ECHO_LIMIT = 256
"""Characters of a client's own input (a name, a type) echoed in an error message; longer is clipped."""

HANDLER_MESSAGE_LIMIT = 1024
"""Characters of an unexpected handler exception's text sent as its error message; longer is clipped."""


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """``str(value)``, cut to ``limit`` characters with an ellipsis: an error frame stays small whatever was sent."""
    text = value if isinstance(value, str) else str(value)[: limit + 1]
    return text if len(text) <= limit else text[:limit] + "…"


class SocketAPIError(Exception):
    """Base of every exception socketapi raises on purpose."""


class ImproperlyConfigured(SocketAPIError):
    """A handler, channel or setting cannot work as declared."""


class BackendError(SocketAPIError):
    """The pub/sub backend is unusable (not connected, broker unreachable)."""


class RelayError(BackendError):
    """A broadcast made outside the server (a script, a worker) did not reach the server at ``host:port``."""


class FrameError(SocketAPIError):
    """An error the client is told about in an error frame."""

    code = "error"

    def __init__(self, message: str, *, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidFrame(FrameError):
    """The frame is not a JSON object of the expected shape."""

    code = "invalid_frame"


class UnknownMessageType(InvalidFrame):
    code = "unknown_type"

    def __init__(self, message_type: object) -> None:
        super().__init__(f"Unknown message type: {clip(message_type)}.")


class UnknownAction(FrameError):
    code = "unknown_action"

    def __init__(self, name: str) -> None:
        super().__init__(f"Action '{clip(name)}' not found.")


class UnknownChannel(FrameError):
    code = "unknown_channel"

    def __init__(self, name: str) -> None:
        super().__init__(f"Channel '{clip(name)}' not found.")


class UnknownEvent(FrameError):
    code = "unknown_event"

    def __init__(self, topic: str, event: str) -> None:
        super().__init__(f"Event '{clip(event)}' is not handled by channel '{clip(topic)}'.")


class NotSubscribed(FrameError):
    code = "not_subscribed"

    def __init__(self, topic: str) -> None:
        super().__init__(f"Not subscribed to channel '{clip(topic)}'.")


class InvalidParameters(FrameError):
    """Validation of the client's ``data`` failed; ``errors`` holds pydantic's details for logs."""

    code = "invalid_params"

    def __init__(self, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class JoinRefused(FrameError):
    """Raise from ``Channel.join`` to refuse the subscriber; ``data`` is sent with the error."""

    code = "join_refused"

    def __init__(self, message: str = "Join refused.", *, data: Any = None) -> None:
        super().__init__(message, data=data)


LIMIT_CODES = ("too_many_channels", "rate_limited", "timeout")
"""The codes of :class:`LimitExceeded`: ``max_channels``, ``rate_limit`` and ``action_timeout``."""


class LimitExceeded(FrameError):
    """A per-socket limit was hit; ``code`` (one of :data:`LIMIT_CODES`) says which."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ConnectRefused(SocketAPIError):
    """Raise from the ``on_connect`` hook to refuse the socket at the handshake (HTTP 403)."""

    def __init__(self, reason: str = "Connection refused.") -> None:
        super().__init__(reason)
        self.reason = reason


class HandlerError(FrameError):
    """Any other exception escaping a handler, reported to the client as ``str(exc)``."""

    code = "handler_error"


def as_frame_error(exc: BaseException) -> FrameError:
    """The error frame an exception becomes: itself if it is one, else a ``HandlerError``."""
    if isinstance(exc, FrameError):
        return exc
    return HandlerError(clip(exc, HANDLER_MESSAGE_LIMIT))
