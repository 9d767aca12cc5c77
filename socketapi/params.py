"""Handler signatures compiled once into validators: FastAPI-style parameters for every hook.

``compile_signature`` reads a function's parameters when it is registered and builds one
pydantic validator for its plain parameters (a ``TypedDict`` adapter, so any parameter name
works and a missing optional key falls back to the function's own default) and a sub-plan
for each ``Depends``. Per frame, only ``ParamPlan.resolve`` runs.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, NotRequired, get_args, get_origin

from pydantic import ConfigDict as _ConfigDict
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from .exceptions import ImproperlyConfigured, InvalidParameters, clip


class Depends:
    """``Annotated[T, Depends(fn)]``: ``fn``'s parameters come from the client's data under this name."""

    __slots__ = ("dependency",)

    def __init__(self, dependency: Callable[..., Any]) -> None:
        if not callable(dependency):
            raise ImproperlyConfigured(f"Depends() needs a callable, got {dependency!r}")
        self.dependency = dependency

    def __repr__(self) -> str:
        return f"Depends({getattr(self.dependency, '__qualname__', self.dependency)!r})"


class RequiredOnSubscribe:
    """``Annotated[T, RequiredOnSubscribe]``: the client must send this channel parameter when subscribing."""


def _is_required_on_subscribe(meta: object) -> bool:
    return meta is RequiredOnSubscribe or isinstance(meta, RequiredOnSubscribe)


class _Dependency:
    __slots__ = ("call", "is_async", "name", "plan")

    def __init__(self, name: str, call: Callable[..., Any], plan: ParamPlan) -> None:
        self.name = name
        self.call = call
        self.plan = plan
        self.is_async = inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
            getattr(call, "__call__", None)  # noqa: B004 - an object with an async __call__
        )


class ParamPlan:
    """The compiled parameters of one handler."""

    __slots__ = ("_validator", "allow_extra", "defaults", "dependencies", "fields", "injected", "names", "simple")

    def __init__(
        self,
        adapter: TypeAdapter[dict[str, Any]] | None,
        dependencies: list[_Dependency],
        names: tuple[str, ...],
        injected: tuple[str, ...] = (),
        *,
        fields: dict[str, Any] | None = None,
        defaults: dict[str, Any] | None = None,
        allow_extra: bool = False,
    ) -> None:
        # The adapter's compiled validator, called directly: TypeAdapter.validate_python's own
        # keyword handling is measurable when every action frame goes through it.
        self._validator = adapter.validator if adapter is not None else None
        self.dependencies = dependencies
        self.names = names
        self.injected = injected  # parameters that receive the current socket
        self.simple = not dependencies and not injected  # validate() alone gives the arguments
        # What the validator was built from, kept for describing the handler (socketapi.schema).
        self.fields = fields or {}  # name -> the validated type (Annotated extras kept)
        self.defaults = defaults or {}  # name -> the function's default, for optional parameters
        self.allow_extra = allow_extra  # a **kwargs parameter takes any other key

    def validate(self, data: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
        """Validate the plain parameters only (no dependency runs).

        ``kind`` and ``name`` say whose parameters they are ("action", "add_numbers"): the error
        text is made from them only when validation fails, never on the hot path.
        """
        if self._validator is None:
            return {}
        try:
            return self._validator.validate_python(data)  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise InvalidParameters(_invalid(kind, name), exc.errors(include_url=False)) from None

    async def resolve(self, data: dict[str, Any], kind: str, name: str, socket: Any = None) -> dict[str, Any]:
        """Validate ``data`` and run the dependencies: the keyword arguments for the handler."""
        values = self.validate(data, kind, name)
        for name in self.injected:
            values[name] = socket
        for dep in self.dependencies:
            sub = data.get(dep.name, {})
            if not isinstance(sub, dict):
                raise InvalidParameters(_invalid(kind, name), [{"loc": (dep.name,), "msg": "expected an object"}])
            kwargs = await dep.plan.resolve(sub, kind, name, socket)
            result = dep.call(**kwargs)
            values[dep.name] = await result if dep.is_async else result
        return values


def _invalid(kind: str, name: str) -> str:
    return f"Invalid parameters for {kind} '{clip(name)}'"


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    target = func.__init__ if inspect.isclass(func) else func
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:
        raise ImproperlyConfigured(f"Cannot resolve the annotations of {func!r}: {exc}") from exc


def _split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        return base, meta
    return annotation, []


def compile_signature(
    func: Callable[..., Any],
    *,
    skip_first: bool = False,
    select: Callable[[str, list[Any]], bool] | None = None,
    types: dict[str, Any] | None = None,
) -> ParamPlan:
    """Compile ``func``'s parameters.

    Args:
        skip_first: drop the first parameter (``self`` of an unbound method).
        select: keep only the parameters for which ``select(name, metadata)`` is true.
        types: annotations to use for parameters the function leaves unannotated.
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"Cannot read the signature of {func!r}") from exc
    hints = _hints(func)
    parameters = list(signature.parameters.values())
    if skip_first:
        parameters = parameters[1:]
    fields: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    dependencies: list[_Dependency] = []
    names: list[str] = []
    injected: list[str] = []
    allow_extra = False
    for param in parameters:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            allow_extra = True
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise ImproperlyConfigured(
                f"{func.__qualname__}: parameter {param.name!r} must be passable by keyword "
                "(handlers are called with the client's data as keyword arguments)"
            )
        annotation = hints.get(param.name, (types or {}).get(param.name, Any))
        base, meta = _split_annotated(annotation)
        if select is not None and not select(param.name, meta):
            continue
        names.append(param.name)
        if getattr(base, "__socketapi_inject__", None) == "socket":
            injected.append(param.name)
            continue
        depends = next((m for m in meta if isinstance(m, Depends)), None)
        if depends is not None:
            sub_plan = compile_signature(depends.dependency)
            dependencies.append(_Dependency(param.name, depends.dependency, sub_plan))
            continue
        kept = [m for m in meta if not _is_required_on_subscribe(m)]
        field_type = Annotated.__class_getitem__((base, *kept)) if kept else base  # type: ignore[attr-defined]
        fields[param.name] = field_type if param.default is inspect.Parameter.empty else NotRequired[field_type]
        plain[param.name] = field_type
        if param.default is not inspect.Parameter.empty:
            defaults[param.name] = param.default
    adapter: TypeAdapter[dict[str, Any]] | None = None
    if fields or allow_extra:
        make_typed_dict: Any = TypedDict  # built at run time from the signature: beyond a type checker
        typed_dict = make_typed_dict(f"{func.__qualname__}Params", fields)
        typed_dict.__pydantic_config__ = _ConfigDict(extra="allow" if allow_extra else "ignore")
        try:
            adapter = TypeAdapter(typed_dict)
        except Exception as exc:
            raise ImproperlyConfigured(f"Cannot build a validator for {func.__qualname__}: {exc}") from exc
    return ParamPlan(
        adapter, dependencies, tuple(names), tuple(injected), fields=plain, defaults=defaults, allow_extra=allow_extra
    )


def only_required_on_subscribe(extra: frozenset[str] = frozenset()) -> Callable[[str, list[Any]], bool]:
    """A ``select`` for channel functions: parameters marked ``RequiredOnSubscribe``, plus ``extra`` names."""

    def select(name: str, meta: list[Any]) -> bool:
        return name in extra or any(_is_required_on_subscribe(m) for m in meta)

    return select
