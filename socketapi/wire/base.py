"""What every wire format provides: the decoded frame, the decode error, and the encoder protocol.

The engine talks only to a :class:`WireFormat`. A transport picks one per connection (by the
path the client connected to), so one app can speak several formats at once; a broadcast is
still encoded once per format, not once per subscriber (see :meth:`Broadcast.frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic_core import from_json, to_json

from ..exceptions import InvalidFrame

if TYPE_CHECKING:
    from ..exceptions import FrameError
    from ..pubsub.message import Broadcast
    from ..types import JSON, Ref, Scope, StreamPosition


@dataclass(slots=True)
class Inbound:
    """A decoded client frame, independent of the wire format it came in."""

    type: str  # "action", "subscribe", "unsubscribe", "event" or "ping"
    channel: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ref: Ref | None = None
    event: str | None = None
    # Which join of ``channel`` the frame belongs to, for formats that number joins (Phoenix's
    # ``join_ref``): a subscribe records it, and an event or unsubscribe naming another one is stale.
    join_ref: Ref | None = None
    since: StreamPosition | None = None  # a subscribe's recovery request (SPEC 7.3)


class DecodeError(Exception):
    """A frame that cannot be handled, with whatever of its ``ref``/``channel`` could be read."""

    def __init__(self, error: FrameError, ref: Ref | None = None, channel: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.ref = ref
        self.channel = channel


class WireFormat(Protocol):
    """Decodes client frames and encodes every frame the server sends.

    ``broadcast`` must be one stable callable per format instance: broadcasts cache their
    frame text by it, so every subscriber speaking this format shares one encoding.
    ``join_ref`` is the subscriber's :attr:`Inbound.join_ref` (``None`` in formats without one).
    """

    subprotocols: tuple[str, ...]
    """WebSocket subprotocols this format selects when the client offers one (after the app's own)."""

    def refuse(self, scope: Scope) -> str | None:
        """Why the handshake cannot be served in this format (e.g. a protocol version), or ``None``."""

    def decode(self, raw: str | bytes) -> Inbound: ...

    def action_result(self, name: str, result: JSON, ref: Ref | None) -> str: ...

    def subscribed(
        self,
        topic: str,
        reply: JSON,
        ref: Ref | None,
        join_ref: Ref | None = None,
        *,
        position: StreamPosition | None = None,
        recovered: bool | None = None,
    ) -> str:
        """``position`` (offset and epoch) on a topic with history; ``recovered`` answers a ``since``."""

    def unsubscribed(self, topic: str, ref: Ref | None, join_ref: Ref | None = None) -> str: ...

    def closed(self, topic: str, join_ref: Ref | None) -> str | None:
        """The server ended this subscription (after an unsubscribe, or replaced by a new join); ``None``: no frame."""

    def reply(self, topic: str, event: str, data: JSON, ref: Ref | None, join_ref: Ref | None = None) -> str: ...

    def push(self, topic: str, event: str | None, data: JSON, join_ref: Ref | None = None) -> str: ...

    def broadcast(self, message: Broadcast) -> str: ...

    def error(
        self, error: FrameError, *, ref: Ref | None = None, channel: str | None = None, join_ref: Ref | None = None
    ) -> str: ...

    def pong(self, ref: Ref | None) -> str: ...


MAX_REF_INT = 2**53 - 1  # the largest integer every JSON reader (JavaScript's included) reads exactly


def dumps(obj: Any) -> str:
    """Strict JSON out (RFC 8259): a non-finite float (a handler's NaN, a client's 1e999999) is sent as null."""
    return to_json(obj, inf_nan_mode="null").decode()


def load_text(raw: str | bytes, binary_refused: str) -> Any:
    """A text frame parsed as strict JSON (no NaN or Infinity); ``binary_refused`` answers a binary frame."""
    if not isinstance(raw, str):
        raise DecodeError(InvalidFrame(binary_refused))
    try:
        return from_json(raw, allow_inf_nan=False)
    except (ValueError, TypeError, RecursionError):  # TypeError: text that is not valid Unicode
        raise DecodeError(InvalidFrame("Invalid JSON.")) from None
