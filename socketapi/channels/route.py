"""A registered channel class, compiled once: its topic pattern, join validator and event handlers."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..exceptions import ImproperlyConfigured
from ..history import HistoryPolicy
from ..params import ParamPlan, compile_signature
from .base import EVENT_ATTR, Channel, compile_join_plan
from .topics import TopicPattern


class EventHandler:
    __slots__ = ("method", "name", "plan")

    def __init__(self, name: str, method: Callable[..., Any], plan: ParamPlan) -> None:
        self.name = name
        self.method = method
        self.plan = plan


class ChannelRoute:
    """Everything the supervisor needs to run subscribers of one channel class."""

    __slots__ = ("cls", "events", "history", "intercept", "join_plan", "overflow", "pattern", "presence")

    def __init__(self, cls: type[Channel]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            raise ImproperlyConfigured(f"{cls!r} is not a Channel subclass")
        topic = getattr(cls, "topic", None)
        if not isinstance(topic, str):
            raise ImproperlyConfigured(f"{cls.__qualname__} needs a `topic` string, e.g. topic = 'room:{{room_id}}'")
        for hook in ("join", "after_join", "handle_in", "handle_out", "leave"):
            if not inspect.iscoroutinefunction(getattr(cls, hook)):
                raise ImproperlyConfigured(f"{cls.__qualname__}.{hook} must be an `async def`")
        self.cls = cls
        self.pattern = TopicPattern(topic)
        self.join_plan = compile_join_plan(cls, self.pattern)
        self.intercept = frozenset(cls.intercept)
        if cls.overflow not in (None, "close", "drop_oldest"):
            raise ImproperlyConfigured(f"{cls.__qualname__}.overflow must be 'close', 'drop_oldest' or None")
        self.overflow = cls.overflow
        if not isinstance(cls.presence, bool):
            raise ImproperlyConfigured(f"{cls.__qualname__}.presence must be True or False")
        self.presence = cls.presence
        try:
            self.history = HistoryPolicy.of(cls.history, cls.history_ttl)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"{cls.__qualname__}: {exc}") from None
        self.events: dict[str, EventHandler] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                event = getattr(attr, EVENT_ATTR, None)
                if event is None:
                    continue
                if not inspect.iscoroutinefunction(attr):
                    raise ImproperlyConfigured(f"@on_event({event!r}) on {attr!r}: the method must be an `async def`")
                self.events[event] = EventHandler(event, attr, compile_signature(attr, skip_first=True))

    def __repr__(self) -> str:
        return f"ChannelRoute({self.pattern.pattern!r}, {self.cls.__qualname__})"
