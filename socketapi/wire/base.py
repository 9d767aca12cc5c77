"""What every wire format provides: the decoded frame, the decode error, and the encoder protocol.

The engine talks only to a :class:`WireFormat`. A transport picks one per connection (by the
path the client connected to), so one app can speak several formats at once; a broadcast is
still encoded once per format, not once per subscriber (see :meth:`Broadcast.frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..exceptions import FrameError
    from ..pubsub.message import Broadcast
    from ..types import JSON, Ref, StreamPosition


@dataclass(slots=True)
class Inbound:
    """A decoded client frame, independent of the wire format it came in."""

    type: str  # "action", "subscribe", "unsubscribe", "event" or "ping"
    channel: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ref: Ref | None = None
    event: str | None = None
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
    """

    def decode(self, raw: str | bytes) -> Inbound: ...

    def action_result(self, name: str, result: JSON, ref: Ref | None) -> str: ...

    def subscribed(
        self,
        topic: str,
        reply: JSON,
        ref: Ref | None,
        *,
        position: StreamPosition | None = None,
        recovered: bool | None = None,
    ) -> str:
        """``position`` (offset and epoch) on a topic with history; ``recovered`` answers a ``since``."""

    def unsubscribed(self, topic: str, ref: Ref | None) -> str: ...

    def reply(self, topic: str, event: str, data: JSON, ref: Ref | None) -> str: ...

    def push(self, topic: str, event: str | None, data: JSON) -> str: ...

    def broadcast(self, message: Broadcast) -> str: ...

    def error(self, error: FrameError, *, ref: Ref | None = None, channel: str | None = None) -> str: ...

    def pong(self, ref: Ref | None) -> str: ...
