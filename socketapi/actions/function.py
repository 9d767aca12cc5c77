"""``@app.action``: a function becomes an Action class."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from ..exceptions import ImproperlyConfigured
from ..params import ParamPlan, compile_signature
from .base import Action


class FunctionAction(Action):
    """An action whose ``handle`` is a plain async function."""

    _func: ClassVar[Callable[..., Awaitable[Any]]]

    async def handle(self, **kwargs: Any) -> Any:
        return await type(self)._func(**kwargs)

    @classmethod
    def __socketapi_plan__(cls) -> ParamPlan:
        return compile_signature(cls._func)


def action_class(func: Callable[..., Awaitable[Any]], name: str) -> type[FunctionAction]:
    if not inspect.iscoroutinefunction(func):
        raise ImproperlyConfigured(f"@action({name!r}): {func!r} must be an `async def`")
    return type(
        f"{func.__name__}_action",
        (FunctionAction,),
        {
            "name": name,
            "_func": staticmethod(func),
            "__module__": func.__module__,
            "__qualname__": f"{func.__qualname__}.action",
        },
    )
