"""Registration and lookup of actions and channels; no I/O and no per-socket state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from .actions import Action, ActionRoute, action_class
from .channels import Channel, ChannelFunction, ChannelRoute
from .exceptions import ImproperlyConfigured
from .history import HistoryPolicy
from .types import Broadcaster

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class Router:
    """A group of actions and channels, mounted on an app with ``app.include_router(router)``."""

    def __init__(self, *, broadcaster: Broadcaster | None = None) -> None:
        self._broadcaster = broadcaster
        self._actions: dict[str, ActionRoute] = {}
        self._static_channels: dict[str, ChannelRoute] = {}
        self._pattern_channels: list[ChannelRoute] = []
        self._channel_functions: list[ChannelFunction[Any, Any]] = []
        self.has_history = False  # whether some channel keeps history: other apps skip the lookup per broadcast

    # -- declaring -------------------------------------------------------------------------

    def action(self, name: str) -> Callable[[F], F]:
        """Declare an action; the function is returned unchanged and stays directly callable."""

        def decorator(func: F) -> F:
            self.add_action(action_class(func, name))
            return func

        return decorator

    def channel(
        self, name: str, default_response: bool = False, *, history: int | None = None, history_ttl: float | None = None
    ) -> Callable[[Callable[P, Awaitable[R]]], ChannelFunction[P, R]]:
        """Declare a channel; calling the returned function broadcasts its result to the subscribers.

        With ``history=N`` the topic keeps its last N broadcasts for recovery (docs/history.md).
        """

        def decorator(func: Callable[P, Awaitable[R]]) -> ChannelFunction[P, R]:
            channel_function = ChannelFunction(func, name, default_response, history, history_ttl)
            self.add_channel(channel_function.channel_class)
            self._adopt(channel_function)
            return channel_function

        return decorator

    def register(self, *classes: type[Channel] | type[Action]) -> None:
        """Register ``Channel`` and ``Action`` subclasses."""
        for cls in classes:
            if isinstance(cls, type) and issubclass(cls, Channel):
                self.add_channel(cls)
            elif isinstance(cls, type) and issubclass(cls, Action):
                self.add_action(cls)
            else:
                raise ImproperlyConfigured(f"register() takes Channel or Action subclasses, got {cls!r}")

    def add_action(self, cls: type[Action]) -> None:
        self._add_action_route(ActionRoute(cls))

    def add_channel(self, cls: type[Channel]) -> None:
        self._add_channel_route(ChannelRoute(cls))

    def include_router(self, router: Router) -> None:
        """Mount every action and channel of ``router`` here."""
        for action in router._actions.values():
            self._add_action_route(action)
        for channel in [*router._static_channels.values(), *router._pattern_channels]:
            self._add_channel_route(channel)
        for channel_function in router._channel_functions:
            self._adopt(channel_function)

    # -- lookup ----------------------------------------------------------------------------

    def get_action(self, name: str) -> ActionRoute | None:
        return self._actions.get(name)

    def match_channel(self, topic: str) -> tuple[ChannelRoute, dict[str, str]] | None:
        """The route serving ``topic`` and the topic's raw parameters; exact names win over patterns."""
        route = self._static_channels.get(topic)
        if route is not None:
            return route, {}
        for route in self._pattern_channels:
            params = route.pattern.match(topic)
            if params is not None:
                return route, params
        return None

    def history_of(self, topic: str) -> HistoryPolicy | None:
        """The history policy of the channel serving ``topic``; ``None`` (at once) when no channel keeps any."""
        if not self.has_history:
            return None
        match = self.match_channel(topic)
        return match[0].history if match is not None else None

    @property
    def has_presence(self) -> bool:
        """Whether some registered channel has ``presence = True``."""
        return any(r.presence for r in [*self._static_channels.values(), *self._pattern_channels])

    @property
    def actions(self) -> list[str]:
        return list(self._actions)

    @property
    def channels(self) -> list[str]:
        return [*self._static_channels, *(r.pattern.pattern for r in self._pattern_channels)]

    @property
    def action_routes(self) -> list[ActionRoute]:
        """Every registered action, in registration order (read by ``socketapi.schema``)."""
        return list(self._actions.values())

    @property
    def channel_routes(self) -> list[ChannelRoute]:
        """Every registered channel: exact names first, then patterns in the order they are matched."""
        return [*self._static_channels.values(), *self._pattern_channels]

    # -- internals -------------------------------------------------------------------------

    def _adopt(self, channel_function: ChannelFunction[Any, Any]) -> None:
        if channel_function not in self._channel_functions:
            self._channel_functions.append(channel_function)
        if self._broadcaster is not None:
            channel_function.bind(self._broadcaster)

    def _add_action_route(self, route: ActionRoute) -> None:
        if route.name in self._actions:
            raise ImproperlyConfigured(f"Action {route.name!r} is already registered")
        self._actions[route.name] = route

    def _add_channel_route(self, route: ChannelRoute) -> None:
        pattern = route.pattern.pattern
        if pattern in self._static_channels or any(r.pattern.pattern == pattern for r in self._pattern_channels):
            raise ImproperlyConfigured(f"Channel {pattern!r} is already registered")
        if route.history is not None:
            self.has_history = True
        if route.pattern.is_static:
            self._static_channels[pattern] = route
        else:
            self._pattern_channels.append(route)
