"""The class API: one ``Channel`` instance per subscriber, Phoenix-style."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..exceptions import UnknownEvent
from ..params import ParamPlan, compile_signature
from ..settings import OverflowPolicy
from .topics import TopicPattern

if TYPE_CHECKING:
    from ..types import JSON, ChannelContext, LeaveReason, SocketInfo

F = TypeVar("F", bound=Callable[..., Any])

EVENT_ATTR = "__socketapi_event__"


def on_event(name: str) -> Callable[[F], F]:
    """Route the client event ``name`` to this method, its payload validated by the method's signature.

    ::

        @on_event("shout")
        async def shout(self, text: str) -> dict:
            ...
    """

    def decorator(method: F) -> F:
        setattr(method, EVENT_ATTR, name)
        return method

    return decorator


class Channel:
    """Subclass with a ``topic`` pattern and override the hooks you need.

    The engine creates one instance per subscriber (per socket and topic) when a client
    subscribes, and drops it after ``leave``: attributes set on ``self`` are that
    subscriber's state. Calls for one instance never overlap; they run in frame order.

    Hooks (all optional):

    - ``async def join(self, **params)``: the topic's parameters and the subscribe ``data``,
      validated by the signature. Return a reply (sent as ``data`` on ``subscribed``) or
      ``None``; raise :class:`~socketapi.JoinRefused` (or any exception) to refuse.
    - ``async def after_join(self)``: runs right after ``subscribed`` was sent.
    - ``async def handle_in(self, event, payload)``: a client event with no ``@on_event``
      method; return a reply or ``None``.
    - ``async def handle_out(self, event, payload)``: for events named in ``intercept``,
      called per subscriber instead of the direct write; push (or don't) as you see fit.
    - ``async def leave(self, reason)``: runs once for every successful join; ``reason`` is a
      :data:`~socketapi.types.LeaveReason` (listed in docs/channels.md#leave-reasons).

    Options (class attributes):

    - ``presence = True``: subscribers get ``presence_state`` after ``subscribed`` and
      ``presence_diff`` pushes; ``await self.track(key, meta)`` makes this subscriber present
      (see docs/presence.md).
    - ``history = N`` (and ``history_ttl`` seconds): the topic keeps its last N broadcasts,
      which carry an ``offset``, and clients can recover what they missed (see docs/history.md).
    """

    # The engine's attributes live in slots, so an instance's __dict__ holds only the user's state.
    __slots__ = ("__dict__", "_context", "params", "socket", "topic_name")

    topic: ClassVar[str]
    intercept: ClassVar[frozenset[str] | set[str]] = frozenset()
    overflow: ClassVar[OverflowPolicy | None] = None  # this channel's frames on a full queue; None: the app's
    presence: ClassVar[bool] = False
    history: ClassVar[int | None] = None
    history_ttl: ClassVar[float | None] = None

    socket: SocketInfo
    topic_name: str
    params: dict[str, Any]
    _context: ChannelContext

    async def join(self, *args: Any, **kwargs: Any) -> Any:
        """Accept every subscriber, with no reply."""
        return None

    async def after_join(self) -> None:
        """Override to act once the client knows it is subscribed."""

    async def handle_in(self, event: str, payload: dict[str, Any]) -> Any:
        """Override to handle events that have no ``@on_event`` method."""
        raise UnknownEvent(self.topic_name, event)

    async def handle_out(self, event: str, payload: Any) -> None:
        """Override to filter or rewrite intercepted broadcasts for this subscriber."""
        await self.push(event, payload)

    async def leave(self, reason: LeaveReason) -> None:
        """Override to clean up when this subscriber goes away."""

    @property
    def assigns(self) -> dict[str, Any]:
        """The socket's connection-level state (set at connect time)."""
        return self.socket.assigns

    async def push(self, event: str | None, data: JSON = None) -> None:
        """Send ``data`` to this subscriber only."""
        await self._context.push(event, data)

    async def broadcast(self, event: str | None, data: JSON = None) -> None:
        """Send ``data`` to every subscriber of this topic, on every node, this one included."""
        await self._context.broadcast(event, data, include_self=True)

    async def broadcast_from(self, event: str | None, data: JSON = None) -> None:
        """Send ``data`` to every subscriber of this topic except this one."""
        await self._context.broadcast(event, data, include_self=False)

    async def track(self, key: str, meta: dict[str, Any] | None = None) -> str:
        """Make this subscriber present on the topic as ``key``; returns the entry's ``phx_ref``.

        One subscriber tracks one entry (tracking again replaces it); it leaves by itself
        when the subscriber leaves, for whatever reason. Needs ``presence = True``.
        """
        return await self._context.track(key, meta or {})

    async def update(self, meta: dict[str, Any]) -> str:
        """Replace this subscriber's presence meta (a leave of the old ref, a join of the new one)."""
        return await self._context.update(meta)

    async def untrack(self) -> None:
        """Remove this subscriber's presence entry, if it has one."""
        await self._context.untrack()


def compile_join_plan(cls: type[Channel], pattern: TopicPattern) -> ParamPlan | None:
    """The validator for ``cls.join``; ``None`` when the class keeps the accept-all default."""
    hook = getattr(cls, "__socketapi_join_plan__", None)
    if hook is not None:
        return hook(pattern)  # type: ignore[no-any-return]
    if cls.join is Channel.join:
        return None
    return compile_signature(cls.join, skip_first=True, types=dict.fromkeys(pattern.params, str))
