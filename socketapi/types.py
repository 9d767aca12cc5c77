"""Shared vocabulary: aliases and the Protocols through which layers talk.

Channels and actions never import the connection, the supervisor or the app; they see the
socket and the hub only through the Protocols declared here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeAlias

from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from .pubsub.message import Broadcast

__all__ = [
    "JSON",
    "Broadcaster",
    "ChannelContext",
    "LeaveReason",
    "Receive",
    "Ref",
    "Scope",
    "Send",
    "SocketInfo",
    "StreamPosition",
    "Subscriber",
]

JSON: TypeAlias = Any
"""Any value the JSON encoder accepts (pydantic models included)."""

Ref: TypeAlias = str | int
"""The client's correlation id for a frame (SPEC section 5)."""

LeaveReason: TypeAlias = Literal["left", "closed", "shutdown", "overflow", "idle", "rate_limit", "too_big", "error"]
"""Why ``Channel.leave`` runs; the one list, explained in docs/channels.md#leave-reasons.

``"left"`` the client unsubscribed · ``"closed"`` the client went away · ``"shutdown"`` the server
is stopping · the server closed the socket because of ``"overflow"`` (its send queue), ``"idle"``
(reserved: the idle timeout closes only sockets subscribed to no channel), ``"rate_limit"``
(too many refused frames) or ``"too_big"`` (a frame over ``max_frame_size``) · ``"error"`` the
join succeeded but the backend could not subscribe the topic (the client got an error instead of
``subscribed``).
"""


class StreamPosition(NamedTuple):
    """A place in a topic's history: the offset of a broadcast, and the epoch it belongs to (SPEC 7.3)."""

    offset: int
    epoch: str


class SocketInfo(Protocol):
    """What a handler may know of the socket it serves."""

    @property
    def id(self) -> str: ...

    @property
    def assigns(self) -> dict[str, Any]: ...

    @property
    def scope(self) -> Scope: ...


class Subscriber(Protocol):
    """A local receiver of broadcasts; ``deliver`` must not block or raise."""

    def deliver(self, message: Broadcast) -> None: ...


class Broadcaster(Protocol):
    """Something that can broadcast on a topic: the app, as seen from a channel function."""

    async def broadcast(self, topic: str, data: JSON = None, *, event: str | None = None) -> None: ...


class ChannelContext(Protocol):
    """The engine side of one joined channel instance, as the instance sees it."""

    async def push(self, event: str | None, data: JSON) -> None: ...

    async def broadcast(self, event: str | None, data: JSON, *, include_self: bool) -> None: ...

    async def track(self, key: str, meta: dict[str, Any]) -> str: ...

    async def update(self, meta: dict[str, Any]) -> str: ...

    async def untrack(self) -> None: ...
