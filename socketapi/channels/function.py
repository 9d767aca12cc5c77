"""``@app.channel``: a function becomes a Channel class, and calling it broadcasts."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar

from ..exceptions import ImproperlyConfigured
from ..params import ParamPlan, compile_signature, only_required_on_subscribe
from ..types import Broadcaster
from .base import Channel
from .topics import TopicPattern

P = ParamSpec("P")
R = TypeVar("R")


class FunctionChannel(Channel):
    """Subscribers of a decorator-declared channel.

    ``join`` validates only the ``RequiredOnSubscribe`` parameters (and the topic's own);
    with ``default_response=True`` the function runs once for the new subscriber, with its
    defaults and those parameters, and the result is pushed right after ``subscribed``.
    """

    _func: ClassVar[Callable[..., Awaitable[Any]]]
    _default_response: ClassVar[bool]
    _subscribe_params: dict[str, Any]

    async def join(self, **params: Any) -> None:
        self._subscribe_params = params

    async def after_join(self) -> None:
        if self._default_response:
            await self.push(None, await type(self)._func(**self._subscribe_params))

    @classmethod
    def __socketapi_join_plan__(cls, pattern: TopicPattern) -> ParamPlan:
        return compile_signature(cls._func, select=only_required_on_subscribe(frozenset(pattern.params)))


class ChannelFunction(Generic[P, R]):
    """What ``@app.channel`` returns: call it to run the function and broadcast its result."""

    def __init__(
        self,
        func: Callable[P, Awaitable[R]],
        name: str,
        default_response: bool,
        history: int | None = None,
        history_ttl: float | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(func):
            raise ImproperlyConfigured(f"@channel({name!r}): {func!r} must be an `async def`")
        self.func = func
        self.name = name
        self.pattern = TopicPattern(name)
        self._signature = inspect.signature(func)
        missing = [p for p in self.pattern.params if p not in self._signature.parameters]
        if missing:
            raise ImproperlyConfigured(f"@channel({name!r}): {func.__qualname__} must accept {missing[0]!r}")
        self.channel_class: type[FunctionChannel] = type(
            f"{func.__name__}_channel",
            (FunctionChannel,),
            {
                "topic": name,
                "_func": staticmethod(func),
                "_default_response": default_response,
                "history": history,
                "history_ttl": history_ttl,
                "__module__": func.__module__,
                "__qualname__": f"{func.__qualname__}.channel",
            },
        )
        self._broadcasters: list[Broadcaster] = []
        functools.update_wrapper(self, func)

    def bind(self, broadcaster: Broadcaster) -> None:
        """Make calls broadcast through ``broadcaster`` (the app this channel was registered with)."""
        if broadcaster not in self._broadcasters:
            self._broadcasters.append(broadcaster)

    def topic_for(self, *args: Any, **kwargs: Any) -> str:
        params = self.pattern.params
        if not params:
            return self.pattern.pattern
        if not args and all(name in kwargs for name in params):  # the usual call: no binding needed
            return self.pattern.format(kwargs)
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return self.pattern.format(bound.arguments)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if not self._broadcasters:
            raise RuntimeError(
                f"Channel {self.name!r} is not registered with any SocketAPI app; "
                "include its router with app.include_router(router) first"
            )
        topic = self.topic_for(*args, **kwargs)
        result = await self.func(*args, **kwargs)
        for broadcaster in self._broadcasters:
            await broadcaster.broadcast(topic, result)
        return result

    def __repr__(self) -> str:
        return f"<channel {self.name!r} {self.func.__qualname__}>"
