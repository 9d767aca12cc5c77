"""What an app serves, read from its registered routes: names, patterns and JSON Schemas.

The AsyncAPI document and the TypeScript module are both built from one :class:`ApiDescription`,
so they cannot disagree. Every JSON Schema comes from pydantic in a single batch (one
``TypeAdapter.json_schemas`` call), so a model used by several handlers is one named component
under ``#/components/schemas/``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from ..actions import ActionRoute
from ..channels import Channel, ChannelRoute, FunctionChannel
from ..params import ParamPlan
from ..router import Router

REF_TEMPLATE = "#/components/schemas/{model}"

Schema = dict[str, Any]

PRESENCE_STATE = "socketapi.PresenceState"
PRESENCE_DIFF = "socketapi.PresenceDiff"

# Phoenix's presence shapes (SPEC 7.2): {key: {"metas": [meta, ...]}}, every meta with its phx_ref.
PRESENCE_SCHEMAS: dict[str, Schema] = {
    PRESENCE_STATE: {
        "type": "object",
        "description": "Who is present, by key: each key's metas, as tracked by the channel.",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "metas": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"phx_ref": {"type": "string"}},
                        "required": ["phx_ref"],
                        "additionalProperties": True,
                    },
                }
            },
            "required": ["metas"],
        },
    },
    PRESENCE_DIFF: {
        "type": "object",
        "description": "What changed: the metas that joined and the metas that left, by key.",
        "properties": {
            "joins": {"$ref": REF_TEMPLATE.format(model=PRESENCE_STATE)},
            "leaves": {"$ref": REF_TEMPLATE.format(model=PRESENCE_STATE)},
        },
        "required": ["joins", "leaves"],
    },
}

_NOT_DESCRIBABLE = {"description": "This type has no JSON Schema; any JSON value is accepted."}


@dataclass
class Params:
    """The ``data`` object a client sends: an object schema, and whether ``data`` may be left out."""

    schema: Schema
    required: bool


@dataclass
class ActionInfo:
    name: str
    doc: str
    params: Params
    result: Schema | None  # None: the handler returns None, so the result frame carries no data


@dataclass
class EventInfo:
    name: str
    doc: str
    params: Params
    reply: Schema | None  # None: no reply frame is sent


@dataclass
class ChannelInfo:
    pattern: str
    doc: str
    topic_params: dict[str, Schema]
    topic_regex: str | None  # an ECMAScript regex for concrete topics; None for an exact name
    join: Params
    join_reply: Schema | None
    events: list[EventInfo]
    any_event: bool  # the class overrides handle_in: events other than the listed ones are accepted
    broadcasts: dict[str | None, Schema]  # event (None: no event name) -> payload
    any_broadcast: bool  # the class may push or broadcast any event with any payload
    initial_data: bool  # default_response=True: a data frame follows subscribed
    presence: bool = False  # presence = True: presence_state and presence_diff pushes (docs/presence.md)
    history: bool = False  # history = N: offsets, epochs and recovery with since (docs/history.md)


@dataclass
class ApiDescription:
    title: str
    version: str
    path: str
    actions: list[ActionInfo] = field(default_factory=list)
    channels: list[ChannelInfo] = field(default_factory=list)
    schemas: dict[str, Schema] = field(default_factory=dict)  # components, by name


class _Batch:
    """Types waiting for their JSON Schema; each ``add`` returns a dict filled in by ``run``.

    One pydantic pass over every type is what makes shared models named components, and it
    is far cheaper than a pass per type; a type seen twice is generated once.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[Any, str], tuple[TypeAdapter[Any], list[Schema]]] = {}
        self._unhashable: list[tuple[Any, str, TypeAdapter[Any], list[Schema]]] = []

    def add(self, tp: Any, mode: str) -> Schema:
        placeholder: Schema = {}
        if tp is Any or tp is inspect.Parameter.empty:
            return placeholder  # any JSON value
        try:
            entry = self._pending.get((tp, mode))
        except TypeError:  # an unhashable annotation (a Field with a list default, say): no sharing
            entry = None
            hashable = False
        else:
            hashable = True
        if entry is not None:
            entry[1].append(placeholder)
            return placeholder
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(tp)
        except Exception:
            placeholder.update(_NOT_DESCRIBABLE)
            return placeholder
        if hashable:
            self._pending[(tp, mode)] = (adapter, [placeholder])
        else:
            self._unhashable.append((tp, mode, adapter, [placeholder]))
        return placeholder

    def run(self) -> dict[str, Schema]:
        entries = [(mode, adapter, places) for (_, mode), (adapter, places) in self._pending.items()]
        entries += [(mode, adapter, places) for _, mode, adapter, places in self._unhashable]
        try:
            return self._generate(entries)
        except Exception:
            pass
        # Some type has no JSON Schema: find which, describe them as any value, and generate the rest.
        describable = []
        for mode, adapter, places in entries:
            try:
                adapter.json_schema(mode=mode)  # type: ignore[arg-type]
            except Exception:
                for placeholder in places:
                    placeholder.update(_NOT_DESCRIBABLE)
            else:
                describable.append((mode, adapter, places))
        return self._generate(describable)

    @staticmethod
    def _generate(entries: list[tuple[str, TypeAdapter[Any], list[Schema]]]) -> dict[str, Schema]:
        if not entries:
            return {}
        inputs: Any = [(i, mode, adapter) for i, (mode, adapter, _) in enumerate(entries)]
        schemas, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF_TEMPLATE)
        for i, (mode, _, places) in enumerate(entries):
            for placeholder in places:
                placeholder.update(copy.deepcopy(schemas[(i, mode)]))  # type: ignore[index]
        return dict(definitions.get("$defs", {}))


def _doc(obj: Any) -> str:
    """The object's own docstring (``inspect.getdoc`` would inherit the base class's)."""
    text = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(text) if isinstance(text, str) else ""


def _return_type(func: Callable[..., Any]) -> Any:
    """The return annotation; ``Any`` when there is none or it cannot be resolved."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        return Any
    return hints.get("return", Any)


def _result(batch: _Batch, func: Callable[..., Any]) -> Schema | None:
    tp = _return_type(func)
    if tp is None or tp is type(None):
        return None
    return batch.add(tp, "serialization")


def _with(schema: Schema, **extra: Any) -> Schema:
    """``schema`` plus keywords; a bare ``$ref`` is wrapped, since draft-07 ignores a ref's siblings."""
    if "$ref" in schema:
        return {"allOf": [schema], **extra}
    return {**schema, **extra}


def _params(batch: _Batch, plan: ParamPlan | None, skip: tuple[str, ...] = ()) -> Params:
    """The object schema of a plan's ``data``: plain parameters, then one nested object per ``Depends``."""
    properties: Schema = {}
    required: list[str] = []
    if plan is not None:
        for name, tp in plan.fields.items():
            if name in skip:
                continue
            prop = batch.add(tp, "validation")
            if name in plan.defaults:
                try:
                    default = to_jsonable_python(plan.defaults[name])
                except Exception:
                    default = None
                if default is not None or plan.defaults[name] is None:
                    prop = _DefaultSchema(prop, default)
            else:
                required.append(name)
            properties[name] = prop
        for dep in plan.dependencies:
            sub = _params(batch, dep.plan)
            properties[dep.name] = sub.schema
            if sub.required:
                required.append(dep.name)
        order = {name: i for i, name in enumerate(plan.names)}  # the signature's order
        properties = dict(sorted(properties.items(), key=lambda item: order.get(item[0], len(order))))
        required.sort(key=lambda name: order.get(name, len(order)))
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if plan is not None and plan.allow_extra:
        schema["additionalProperties"] = True
    return Params(schema, bool(required))


class _DefaultSchema(dict[str, Any]):
    """A property schema with a default, resolved after the batch ran (its base is still empty now)."""

    def __init__(self, base: Schema, default: Any) -> None:
        super().__init__()
        self.base = base
        self.default = default


def _finish(obj: Any) -> Any:
    """Copy the collected structure, once the batch ran: defaults applied, no placeholder shared."""
    if isinstance(obj, _DefaultSchema):
        return _finish(_with(obj.base, default=obj.default))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _finish(getattr(obj, f.name)) for f in dataclasses.fields(obj)})
    if isinstance(obj, dict):
        return {k: _finish(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finish(v) for v in obj]
    return obj


_JS_SYNTAX = set("^$\\.*+?()[]{}|/")


def _js_escape(text: str) -> str:
    # Only syntax characters: ECMAScript regexes in unicode mode (as JSON Schema validators use
    # them) reject Python's escapes of other punctuation, such as "\:".
    return "".join("\\" + c if c in _JS_SYNTAX else c for c in text)


def _topic_regex(route: ChannelRoute) -> str | None:
    pattern = route.pattern
    if pattern.is_static:
        return None
    regex, rest = "^", pattern.pattern
    for name in pattern.params:
        before, rest = rest.split("{" + name + "}", 1)
        regex += _js_escape(before) + "[^/]+"
    return regex + _js_escape(rest) + "$"


def _channel(batch: _Batch, route: ChannelRoute) -> ChannelInfo:
    cls = route.cls
    plan = route.join_plan
    topic_params: dict[str, Schema] = {}
    for name in route.pattern.params:
        tp = plan.fields.get(name, str) if plan is not None else str
        topic_params[name] = batch.add(tp, "validation")
    func = cls._func if issubclass(cls, FunctionChannel) else None
    is_function = func is not None
    join_reply = None if is_function or cls.join is Channel.join else _result(batch, cls.join)
    events = [
        EventInfo(h.name, _doc(h.method), _params(batch, h.plan), _result(batch, h.method))
        for h in route.events.values()
    ]
    broadcasts: dict[str | None, Schema] = {}
    if func is not None:
        payload = _result(batch, func)
        broadcasts[None] = payload if payload is not None else {"type": "null"}
    presence = getattr(cls, "presence", False) is True
    if presence:
        broadcasts["presence_state"] = {"$ref": REF_TEMPLATE.format(model=PRESENCE_STATE)}
        broadcasts["presence_diff"] = {"$ref": REF_TEMPLATE.format(model=PRESENCE_DIFF)}
    return ChannelInfo(
        pattern=route.pattern.pattern,
        doc=_doc(func) if func is not None else _doc(cls),
        topic_params=topic_params,
        topic_regex=_topic_regex(route),
        join=_params(batch, plan, skip=route.pattern.params),
        join_reply=join_reply,
        events=events,
        any_event=cls.handle_in is not Channel.handle_in,
        broadcasts=broadcasts,
        any_broadcast=not is_function,
        initial_data=issubclass(cls, FunctionChannel) and cls._default_response,
        presence=presence,
        history=bool(getattr(cls, "history", None)),
    )


def _action(batch: _Batch, route: ActionRoute) -> ActionInfo:
    func: Callable[..., Any] = route.function if route.function is not None else route.cls.handle
    doc = _doc(func) if route.function is not None else _doc(route.cls) or _doc(route.cls.handle)
    return ActionInfo(route.name, doc, _params(batch, route.plan), _result(batch, func))


def describe(router: Router, *, title: str = "socketapi", version: str = "0.1.0", path: str = "/") -> ApiDescription:
    """Read every registered action and channel of ``router`` (an app's ``endpoints``)."""
    batch = _Batch()
    actions = [_action(batch, route) for route in router.action_routes]
    channels = [_channel(batch, route) for route in router.channel_routes]
    schemas = batch.run()
    if any(c.presence for c in channels):
        schemas.update(PRESENCE_SCHEMAS)
    return ApiDescription(title, version, path, _finish(actions), _finish(channels), schemas)
