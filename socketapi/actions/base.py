"""The class API for request/response endpoints."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ..exceptions import ImproperlyConfigured
from ..params import ParamPlan, compile_signature

if TYPE_CHECKING:
    from ..types import SocketInfo


class Action:
    """Subclass with a ``name`` and an ``async def handle(self, ...)``.

    ``handle``'s parameters are validated from the client's ``data`` (FastAPI-style: models,
    containers, ``Depends``); its return value is the ``data`` of the ``completed`` frame.
    A new instance serves each call, so ``self`` never carries state between calls; what
    belongs to the connection lives in ``self.assigns``.
    """

    name: ClassVar[str]
    socket: SocketInfo

    async def handle(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError  # pragma: no cover - ActionRoute refuses classes without handle

    @property
    def assigns(self) -> dict[str, Any]:
        """The socket's connection-level state (set at connect time)."""
        return self.socket.assigns

    @classmethod
    def __socketapi_plan__(cls) -> ParamPlan:
        return compile_signature(cls.handle, skip_first=True)


class ActionRoute:
    """A registered action class with its validator, compiled once."""

    __slots__ = ("cls", "function", "name", "plan")

    def __init__(self, cls: type[Action]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Action)):
            raise ImproperlyConfigured(f"{cls!r} is not an Action subclass")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise ImproperlyConfigured(f"{cls.__qualname__} needs a non-empty `name` string")
        if cls.handle is Action.handle:
            raise ImproperlyConfigured(f"{cls.__qualname__} must define `async def handle(self, ...)`")
        if not inspect.iscoroutinefunction(cls.handle):
            raise ImproperlyConfigured(f"{cls.__qualname__}.handle must be an `async def`")
        self.cls = cls
        self.name = name
        self.plan = cls.__socketapi_plan__()
        # A function action needs no instance per call: the supervisor calls the function itself.
        self.function: Callable[..., Awaitable[Any]] | None = getattr(cls, "_func", None)

    def __repr__(self) -> str:
        return f"ActionRoute({self.name!r}, {self.cls.__qualname__})"
