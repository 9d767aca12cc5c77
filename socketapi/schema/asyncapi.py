"""The AsyncAPI 3.0 document of an app: protocol v1 frames, as they are on the wire, per action and channel.

The document describes the **server**: a frame a client sends is an operation the server
``receive``s (answered by a ``reply``), a broadcast is an operation it ``send``s. Every action
and every channel is an AsyncAPI channel whose ``address`` is the name a client puts in a
frame's ``"channel"`` (the topic pattern, with its parameters, for channels). Connection-level
frames (``ping``/``pong`` and errors about frames that name no channel) live on the ``socket``
channel, whose address is ``null``.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from ..exceptions import LIMIT_CODES, FrameError
from .describe import ActionInfo, ApiDescription, ChannelInfo, EventInfo, Params, Schema
from .examples import NoExample, example

ASYNCAPI_VERSION = "3.0.0"

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")

_DESCRIPTION = """\
A WebSocket API served by socketapi (protocol version 1). One WebSocket at `{path}`; every frame,
both ways, is one JSON object in a text frame. Operations are seen from the server: `receive`
is a frame a client sends (with the frames that answer it as its `reply`), `send` is a frame the
server pushes. Any client frame may carry `ref` (a string or an integer); the direct answer to it,
or the error it caused, carries the same `ref`, and such an error also carries `channel` and `code`.
"""


def error_codes() -> list[str]:
    """Every error code socketapi sends: its FrameError subclasses' and the limits'.

    A user's own FrameError subclasses are left out: which of them exist depends on what the
    process imported, and the document must not.
    """
    found = dict.fromkeys(LIMIT_CODES)
    stack: list[type[FrameError]] = [FrameError]
    while stack:
        cls = stack.pop()
        own = cls.__module__.split(".")[0] == "socketapi"
        if own and cls is not FrameError and isinstance(cls.__dict__.get("code"), str):
            found[cls.code] = None
        stack.extend(cls.__subclasses__())
    return sorted(found)


REF_SCHEMA: Schema = {"$ref": "#/components/schemas/socketapi.Ref"}

REF: Schema = {
    "description": "Chosen by the client; echoed on the direct answer to the frame that carried it.",
    "oneOf": [{"type": "string"}, {"type": "integer"}],
}


def error_frame() -> Schema:
    """The error frame; its codes are read when the document is built, so codes added later are in it."""
    return {
        "type": "object",
        "properties": {
            "type": {"const": "error"},
            "message": {"type": "string", "description": "What went wrong, in stable wording (docs/protocol.md)."},
            "code": {
                "type": "string",
                "description": "Machine-readable, present when the frame that failed carried a `ref`: "
                + ", ".join(f"`{code}`" for code in error_codes())
                + " (docs/protocol.md).",
            },
            "channel": {"type": "string", "description": "The channel the failed frame named (with `ref`)."},
            "ref": REF_SCHEMA,
            "data": {"description": "Details: the validation errors, or the data of a refused join."},
        },
        "required": ["type", "message"],
    }


# Topics with history (SPEC 7.3, docs/history.md).
SINCE: Schema = {
    "type": "object",
    "description": "Recover every broadcast after `offset` of `epoch` (from an earlier `subscribed` or broadcast).",
    "properties": {"offset": {"type": "integer", "minimum": 0}, "epoch": {"type": "string"}},
    "required": ["offset", "epoch"],
}
OFFSET: Schema = {
    "type": "integer",
    "minimum": 0,
    "description": "The broadcast's position in the topic's history (absent on pushes to one subscriber).",
}
SUBSCRIBED_HISTORY: Schema = {
    "offset": {"type": "integer", "minimum": 0, "description": "The topic's latest offset."},
    "epoch": {"type": "string", "description": "Changes whenever the topic's history was lost."},
    "recovered": {
        "type": "boolean",
        "description": "Answers a `since`: true when every missed broadcast follows, in order; false: reload.",
    },
}

_PRESENCE_SUMMARIES = {
    "presence_state": "Who is present: pushed right after `subscribed`.",
    "presence_diff": "Who joined and who left since the last state or diff.",
}


def _safe_id(text: str) -> str:
    return _ID_UNSAFE.sub("_", text).strip("_") or "_"


class _Ids:
    """Component keys must match ``^[A-Za-z0-9_.-]+$``; names that collide after cleaning get a suffix."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, prefix: str, name: str) -> str:
        base = f"{prefix}.{_safe_id(name)}"
        key, n = base, 2
        while key in self._used:
            key, n = f"{base}_{n}", n + 1
        self._used.add(key)
        return key


def _frame(properties: Schema, required: list[str]) -> Schema:
    return {"type": "object", "properties": properties, "required": required}


def _may_be_absent(schema: Schema) -> bool:
    """True when the payload may be ``None`` (then the frame carries no ``data``) or is untyped."""
    if not schema or schema.get("type") == "null":
        return True
    return any(s.get("type") == "null" for s in schema.get("anyOf", []))


class _Builder:
    def __init__(self, api: ApiDescription) -> None:
        self.api = api
        self.ids = _Ids()
        self.channels: dict[str, Any] = {}
        self.operations: dict[str, Any] = {}
        self.definitions = api.schemas

    # -- messages --------------------------------------------------------------------------

    def message(self, name: str, title: str, summary: str, payload: Schema, description: str = "") -> Schema:
        msg: Schema = {"name": name, "title": title, "summary": summary}
        if description:
            msg["description"] = description
        msg["payload"] = payload
        with contextlib.suppress(NoExample):
            msg["examples"] = [{"name": name, "payload": example(payload, self._examples_defs())}]
        return msg

    def _examples_defs(self) -> dict[str, Schema]:
        return {**self.definitions, "socketapi.Ref": REF}

    def channel_field(self, info: ChannelInfo) -> Schema:
        if info.topic_regex is None:
            return {"const": info.pattern}
        schema: Schema = {
            "type": "string",
            "pattern": info.topic_regex,
            "description": f"A topic of the pattern `{info.pattern}`.",
        }
        try:
            values = {name: example(s, self.definitions) for name, s in info.topic_params.items()}
            schema["examples"] = [info.pattern.format_map({k: _plain(v) for k, v in values.items()})]
        except (NoExample, KeyError, ValueError):
            pass
        return schema

    @staticmethod
    def data(params: Params, properties: Schema, required: list[str]) -> None:
        properties["data"] = params.schema
        if params.required:
            required.append("data")

    # -- operations ------------------------------------------------------------------------

    def operation(
        self, key: str, action: str, channel_id: str, messages: list[str], summary: str, reply: list[str] | None
    ) -> None:
        op: Schema = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in messages],
        }
        if reply is not None:
            op["reply"] = {
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in reply],
            }
        self.operations[key] = op

    # -- the socket itself -----------------------------------------------------------------

    def socket(self) -> None:
        cid = self.ids("socket", "connection")
        self.channels[cid] = {
            "address": None,
            "title": "The connection",
            "description": "Frames about the connection itself: the heartbeat, and errors about frames "
            "that name no valid channel (bad JSON, an unknown message type, a missing channel).",
            "messages": {
                "ping": {"$ref": "#/components/messages/socketapi.ping"},
                "pong": {"$ref": "#/components/messages/socketapi.pong"},
                "error": {"$ref": "#/components/messages/socketapi.error"},
            },
        }
        self.operation(self.ids("ping", "connection"), "receive", cid, ["ping"], "Heartbeat.", ["pong"])
        self.operation(self.ids("error", "connection"), "send", cid, ["error"], "A frame that went wrong.", None)

    # -- actions ---------------------------------------------------------------------------

    def action(self, info: ActionInfo) -> None:
        cid = self.ids("action", info.name)
        props: Schema = {"type": {"const": "action"}, "channel": {"const": info.name}}
        required = ["type", "channel"]
        self.data(info.params, props, required)
        props["ref"] = REF_SCHEMA
        call = self.message(
            "action",
            f"Call {info.name}",
            f"Call the action `{info.name}`.",
            _frame(props, required),
        )
        result_props: Schema = {
            "type": {"const": "action"},
            "channel": {"const": info.name},
            "status": {"const": "completed"},
        }
        result_required = ["type", "channel", "status"]
        if info.result is not None:
            result_props["data"] = info.result
            if not _may_be_absent(info.result):
                result_required.append("data")
        result_props["ref"] = REF_SCHEMA
        result = self.message(
            "completed",
            f"{info.name} completed",
            "The action's result"
            + (" (no `data`: the action returns nothing)." if info.result is None else " in `data`."),
            _frame(result_props, result_required),
        )
        self.channels[cid] = {
            "address": info.name,
            "title": f"Action {info.name}",
            **({"description": info.doc} if info.doc else {}),
            "messages": {"call": call, "result": result, "error": {"$ref": "#/components/messages/socketapi.error"}},
        }
        self.operation(
            self.ids("call", info.name), "receive", cid, ["call"], f"Call `{info.name}`.", ["result", "error"]
        )

    # -- channels --------------------------------------------------------------------------

    def channel(self, info: ChannelInfo) -> None:
        cid = self.ids("channel", info.pattern)
        topic = self.channel_field(info)
        ref = REF_SCHEMA
        messages: Schema = {}

        props: Schema = {"type": {"const": "subscribe"}, "channel": topic}
        required = ["type", "channel"]
        self.data(info.join, props, required)
        if info.history:
            props["since"] = SINCE
        props["ref"] = ref
        messages["subscribe"] = self.message(
            "subscribe", f"Subscribe to {info.pattern}", "Join the channel.", _frame(props, required)
        )
        props = {"type": {"const": "subscribed"}, "channel": topic}
        required = ["type", "channel"]
        if info.join_reply is not None:
            props["data"] = info.join_reply
        if info.history:
            props.update(SUBSCRIBED_HISTORY)
            required += ["offset", "epoch"]
        props["ref"] = ref
        messages["subscribed"] = self.message(
            "subscribed",
            f"Subscribed to {info.pattern}",
            "The subscription is in place" + ("; `data` is the join's reply." if info.join_reply is not None else "."),
            _frame(props, required),
        )
        messages["unsubscribe"] = self.message(
            "unsubscribe",
            f"Unsubscribe from {info.pattern}",
            "Leave the channel.",
            _frame({"type": {"const": "unsubscribe"}, "channel": topic, "ref": ref}, ["type", "channel"]),
        )
        messages["unsubscribed"] = self.message(
            "unsubscribed",
            f"Unsubscribed from {info.pattern}",
            "Sent also when the client was not subscribed.",
            _frame({"type": {"const": "unsubscribed"}, "channel": topic, "ref": ref}, ["type", "channel"]),
        )
        event_ops: list[tuple[str, str, str, bool]] = []
        for event in info.events:
            sent, reply = self.event_messages(info, topic, event.name, event, messages)
            event_ops.append((event.name, sent, reply, event.reply is not None))
        if info.any_event:
            generic = EventInfo("", "", Params({"type": "object"}, False), {})
            sent, reply = self.event_messages(info, topic, None, generic, messages)
            event_ops.append(("*", sent, reply, True))
        broadcast_keys = self.broadcast_messages(info, topic, messages)
        messages["error"] = {"$ref": "#/components/messages/socketapi.error"}

        channel: Schema = {"address": info.pattern, "title": f"Channel {info.pattern}"}
        if info.doc:
            channel["description"] = info.doc
        if info.topic_params:
            channel["parameters"] = {
                name: {"description": _param_description(schema)} for name, schema in info.topic_params.items()
            }
        channel["messages"] = messages
        self.channels[cid] = channel

        self.operation(
            self.ids("subscribe", info.pattern),
            "receive",
            cid,
            ["subscribe"],
            f"Subscribe to `{info.pattern}`.",
            ["subscribed", "error"],
        )
        self.operation(
            self.ids("unsubscribe", info.pattern),
            "receive",
            cid,
            ["unsubscribe"],
            f"Unsubscribe from `{info.pattern}`.",
            ["unsubscribed"],
        )
        for name, sent, reply, has_reply in event_ops:
            self.operation(
                self.ids("event", f"{info.pattern}.{name if name != '*' else 'any'}"),
                "receive",
                cid,
                [sent],
                f"Send the event `{name}` on `{info.pattern}`." if name != "*" else "Send any other event.",
                [reply, "error"] if has_reply else ["error"],
            )
        if broadcast_keys:
            self.operation(
                self.ids("broadcast", info.pattern),
                "send",
                cid,
                broadcast_keys,
                f"Broadcasts and pushes to subscribers of `{info.pattern}`.",
                None,
            )

    def event_messages(
        self, info: ChannelInfo, topic: Schema, name: str | None, event: EventInfo, messages: Schema
    ) -> tuple[str, str]:
        ref = REF_SCHEMA
        label = name if name is not None else "any other event"
        key = _safe_id(name) if name is not None else "any"
        event_field: Schema = {"const": name} if name is not None else {"type": "string"}
        props: Schema = {"type": {"const": "event"}, "channel": topic, "event": event_field}
        required = ["type", "channel", "event"]
        self.data(event.params, props, required)
        props["ref"] = ref
        sent, reply = _unique(messages, f"event.{key}"), ""
        messages[sent] = self.message(
            "event", f"Event {label}", f"Send `{label}` to your subscription.", _frame(props, required), event.doc
        )
        if event.reply is not None:
            props = {
                "type": {"const": "reply"},
                "channel": topic,
                "event": event_field,
                "status": {"const": "ok"},
                "data": event.reply,
                "ref": ref,
            }
            reply = _unique(messages, f"reply.{key}")
            messages[reply] = self.message(
                "reply",
                f"Reply to {label}",
                "The handler's reply (no reply frame when it returns nothing).",
                _frame(props, ["type", "channel", "event", "status", "data"]),
            )
        return sent, reply

    def broadcast_messages(self, info: ChannelInfo, topic: Schema, messages: Schema) -> list[str]:
        keys = []
        for event, payload in info.broadcasts.items():
            props: Schema = {"type": {"const": "data"}, "channel": topic}
            if event is not None:
                props["event"] = {"const": event}
            props["data"] = payload
            key = _unique(messages, "data" if event is None else f"data.{_safe_id(event)}")
            summary = "A broadcast" + (" or the initial data after `subscribed`." if info.initial_data else ".")
            if event in _PRESENCE_SUMMARIES:
                summary = _PRESENCE_SUMMARIES[event]
            elif info.history:
                props["offset"] = OFFSET
            messages[key] = self.message(
                "data", f"Broadcast on {info.pattern}", summary, _frame(props, ["type", "channel", "data"])
            )
            keys.append(key)
        if info.any_broadcast:
            props = {
                "type": {"const": "data"},
                "channel": topic,
                "event": {"type": "string", "description": "The event name given by the channel."},
                "data": {"description": "Any JSON value: the channel's pushes and broadcasts are not typed."},
            }
            if info.history:
                props["offset"] = OFFSET
            key = _unique(messages, "push")
            messages[key] = self.message(
                "data",
                f"Push on {info.pattern}",
                "A push or broadcast from the channel.",
                _frame(props, ["type", "channel"]),
            )
            keys.append(key)
        return keys

    # -- the document ----------------------------------------------------------------------

    def build(self) -> Schema:
        self.socket()
        for action in self.api.actions:
            self.action(action)
        for channel in self.api.channels:
            self.channel(channel)
        schemas: Schema = {"socketapi.Ref": REF, **self.definitions}
        return {
            "asyncapi": ASYNCAPI_VERSION,
            "info": {
                "title": self.api.title,
                "version": self.api.version,
                "description": _DESCRIPTION.format(path=self.api.path),
            },
            "servers": {
                "default": {
                    "host": "localhost:8000",
                    "protocol": "ws",
                    "pathname": self.api.path,
                    "description": "Where the app listens; replace the host with yours.",
                }
            },
            "defaultContentType": "application/json",
            "channels": self.channels,
            "operations": self.operations,
            "components": {
                "schemas": schemas,
                "messages": {
                    "socketapi.error": self.message(
                        "error", "Error", "Anything that went wrong; the connection stays open.", error_frame()
                    ),
                    "socketapi.ping": self.message(
                        "ping",
                        "Ping",
                        "Heartbeat (browsers cannot send WebSocket pings).",
                        _frame({"type": {"const": "ping"}, "ref": REF_SCHEMA}, ["type"]),
                    ),
                    "socketapi.pong": self.message(
                        "pong",
                        "Pong",
                        "The answer to a ping.",
                        _frame({"type": {"const": "pong"}, "ref": REF_SCHEMA}, ["type"]),
                    ),
                },
            },
        }


def _unique(messages: Schema, key: str) -> str:
    candidate, n = key, 2
    while candidate in messages:
        candidate, n = f"{key}_{n}", n + 1
    return candidate


def _plain(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _param_description(schema: Schema) -> str:
    """AsyncAPI 3.0 parameters carry no schema: the type goes into the description."""
    kind = schema.get("type")
    if isinstance(kind, str) and not ({"$ref", "anyOf", "enum"} & schema.keys()):
        article = "An" if kind[0] in "aeiou" else "A"
        return f"{article} {kind}: the part of the topic in its place is validated as one when a client subscribes."
    return "Validated by the channel when a client subscribes."


def asyncapi_document(api: ApiDescription) -> dict[str, Any]:
    """The AsyncAPI 3.0 document (a JSON-ready dict) of a described app."""
    return _Builder(api).build()
