"""A TypeScript module of typed wrappers over the JS client (``socketapi.js``), one app's API in types.

``TypedSocket.call`` is typed per action name (its parameters and result) and
``TypedSocket.channel`` per topic pattern (topic parameters, join parameters, join reply,
client events with their replies, broadcast payloads), so that a wrong action name, a missing
parameter or a wrong type is a compile error under ``tsc --strict``. The types come from the
same :class:`~socketapi.schema.describe.ApiDescription` as the AsyncAPI document.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .describe import REF_TEMPLATE, ApiDescription, ChannelInfo, Params, Schema

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_REF_PREFIX = REF_TEMPLATE.split("{", 1)[0]

_RUNTIME = """\
/** A socket whose `call` and `channel` know this API's names and types. */
export class TypedSocket {
  constructor(readonly socket: Socket) {}

  /** Calls `action`; resolves to its typed result. */
  call<A extends ActionName>(action: A, ...args: Actions[A]["args"]): Promise<Actions[A]["result"]> {
    const [data, options] = args as unknown as [object | undefined, RequestOptions | undefined];
    return this.socket.call<Actions[A]["result"]>(action, data, options);
  }

  /** The channel of one topic of `pattern`: pass the topic's parameters first when it has some. */
  channel<P extends ChannelPattern>(pattern: P, ...args: Channels[P]["args"]): TypedChannel<P> {
    const names = TOPIC_PARAMETERS[pattern];
    const values = (names.length ? args[0] : {}) as Record<string, unknown>;
    const params = (names.length ? args[1] : args[0]) as object | undefined;
    const topic = names.reduce((text, name) => text.split(`{${name}}`).join(String(values[name])), pattern as string);
    return new TypedChannel<P>(
      this.socket.channel<Channels[P]["broadcasts"], Channels[P]["reply"]>(topic, params ?? {}),
    );
  }
}

/** One topic of a channel pattern, with the pattern's events, replies and broadcasts typed. */
export class TypedChannel<P extends ChannelPattern> {
  constructor(readonly channel: Channel<Channels[P]["broadcasts"], Channels[P]["reply"]>) {}

  get topic(): string {
    return this.channel.topic;
  }

  /** Subscribes; resolves to the join reply. */
  join(options?: RequestOptions): Promise<Channels[P]["reply"]> {
    return this.channel.join(options);
  }

  /** Sends a client event; resolves to the handler's reply. */
  push<E extends keyof Channels[P]["events"] & string>(
    event: E,
    ...args: Channels[P]["events"][E] extends { args: infer A extends unknown[] } ? A : never
  ): Promise<Channels[P]["events"][E] extends { reply: infer R } ? R : never> {
    const [data, options] = args as unknown as [object | undefined, RequestOptions | undefined];
    return this.channel.push(event, data, options);
  }

  /** Calls `callback` for every broadcast or push named `event` (`"data"`: a broadcast without a name). */
  on<E extends keyof Channels[P]["broadcasts"] & string>(
    event: E,
    callback: (payload: Channels[P]["broadcasts"][E], message: ChannelMessage) => void,
  ): Unsubscribe {
    return this.channel.on(event, callback);
  }

  /** Unsubscribes. */
  leave(options?: RequestOptions): Promise<void> {
    return this.channel.leave(options);
  }
}
"""


def _name(component: str, taken: set[str]) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", component) if w]
    name = "".join(w[0].upper() + w[1:] for w in words) or "Schema"
    if name[0].isdigit():
        name = "T" + name
    base, n = name, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def _comment(text: str, indent: str) -> str:
    if not text:
        return ""
    lines = text.replace("*/", "*\\/").strip().splitlines()
    if len(lines) == 1:
        return f"{indent}/** {lines[0]} */\n"
    return f"{indent}/**\n" + "".join(f"{indent} * {line}".rstrip() + "\n" for line in lines) + f"{indent} */\n"


class _Types:
    """JSON Schema (as pydantic writes it) to TypeScript type expressions."""

    def __init__(self, components: dict[str, Schema]) -> None:
        taken = {"Actions", "Channels", "ActionName", "ChannelPattern", "TypedSocket", "TypedChannel"}
        taken |= {"Socket", "Channel", "RequestOptions", "ChannelMessage", "Unsubscribe", "TOPIC_PARAMETERS"}
        # Our own components ("socketapi.PresenceState") lose the prefix; a user's model keeps its name.
        ours = [key for key in components if key.startswith("socketapi.")]
        self.names = {key: _name(key, taken) for key in components if key not in ours}
        self.names.update({key: _name(key.removeprefix("socketapi."), taken) for key in ours})
        self.components = components

    def expr(self, schema: Schema, indent: str = "") -> str:
        if not schema:
            return "unknown"
        if "$ref" in schema:
            return self.names[schema["$ref"][len(_REF_PREFIX) :]]
        if "const" in schema:
            return json.dumps(schema["const"])
        if "enum" in schema:
            return " | ".join(json.dumps(v) for v in schema["enum"])
        if "anyOf" in schema or "oneOf" in schema:
            options = schema.get("anyOf") or schema.get("oneOf") or []
            return " | ".join(self._wrap(self.expr(s, indent)) for s in options)
        if "allOf" in schema:
            return " & ".join(self._wrap(self.expr(s, indent)) for s in schema["allOf"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.expr({**schema, "type": k}, indent) for k in kind)
        if kind == "string":
            return "string"
        if kind in ("integer", "number"):
            return "number"
        if kind == "boolean":
            return "boolean"
        if kind == "null":
            return "null"
        if kind == "array":
            if "prefixItems" in schema:
                return "[" + ", ".join(self.expr(s, indent) for s in schema["prefixItems"]) + "]"
            return self._wrap(self.expr(schema.get("items", {}), indent)) + "[]"
        if kind == "object" or "properties" in schema:
            return self.object(schema, indent)
        return "unknown"

    @staticmethod
    def _wrap(expr: str) -> str:
        """Parenthesise a union or intersection, so that ``[]`` or ``&`` applies to all of it."""
        depth, quoted = 0, False
        for i, char in enumerate(expr):
            if char == '"' and (i == 0 or expr[i - 1] != "\\"):
                quoted = not quoted
            elif not quoted and char in "{[(":
                depth += 1
            elif not quoted and char in "}])":
                depth -= 1
            elif not quoted and depth == 0 and expr.startswith((" | ", " & "), i):
                return f"({expr})"
        return expr

    def object(self, schema: Schema, indent: str) -> str:
        properties: Schema = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not properties:
            if isinstance(extra, dict) and extra:
                return f"{{ [key: string]: {self.expr(extra, indent)} }}"
            if "properties" in schema and extra is None:
                return "Record<string, never>"  # a handler without parameters: nothing to send
            return "{ [key: string]: unknown }"
        required = set(schema.get("required", []))
        inner = indent + "  "
        members = []
        for name, prop in properties.items():
            optional = "" if name in required else "?"
            members.append((prop.get("description", ""), f"{_key(name)}{optional}: {self.expr(prop, inner)};"))
        if extra is True or isinstance(extra, dict):
            value = self.expr(extra, inner) if isinstance(extra, dict) and extra else "unknown"
            members.append(("", f"[key: string]: {value};"))
        one_line = "{ " + " ".join(m for _, m in members) + " }"
        if not any(doc for doc, _ in members) and "\n" not in one_line and len(one_line) + len(indent) <= 100:
            return one_line
        body = "".join(_comment(doc, inner) + f"{inner}{member}\n" for doc, member in members)
        return "{\n" + body + indent + "}"

    def params(self, params: Params, indent: str, name: str = "data") -> str:
        optional = "" if params.required else "?"
        return f"{name}{optional}: {self.expr(params.schema, indent)}"

    def result(self, schema: Schema | None, indent: str) -> str:
        return "undefined" if schema is None else self.expr(schema, indent)


def _channel(types: _Types, info: ChannelInfo) -> list[str]:
    i1, i2, i3 = "    ", "      ", "        "
    args = []
    if info.topic_params:
        topic = {"type": "object", "properties": info.topic_params, "required": list(info.topic_params)}
        args.append(f"topic: {types.expr(topic, i1)}")
    args.append(types.params(info.join, i1, "params"))
    out = [_comment(info.doc, "  ") + f"  {json.dumps(info.pattern)}: {{"]
    out.append(f"{i1}/** The topic's parameters (when the pattern has some), then the join parameters. */")
    out.append(f"{i1}args: [{', '.join(args)}];")
    out.append(f"{i1}reply: {types.result(info.join_reply, i1)};")
    events = []
    for event in info.events:
        events.append(_comment(event.doc, i2) + f"{i2}{json.dumps(event.name)}: {{")
        events.append(f"{i3}args: [{types.params(event.params, i3)}, options?: RequestOptions];")
        if event.reply is None:  # no reply frame: socketapi.js's push waits for one until its timeout
            events.append(f"{i3}/** The handler returns nothing, so no reply comes: `push` rejects on its timeout. */")
            events.append(f"{i3}reply: never;")
        else:
            events.append(f"{i3}reply: {types.expr(event.reply, i3)};")
        events.append(f"{i2}}};")
    if info.any_event:
        events.append(
            f"{i2}[event: string]: {{ args: [data?: {{ [key: string]: unknown }}, options?: RequestOptions]; "
            "reply: unknown };"
        )
    out.extend([f"{i1}events: {{", *events, f"{i1}}};"] if events else [f"{i1}events: {{}};"])
    broadcasts = [f"{i2}{json.dumps(event or 'data')}: {types.expr(p, i2)};" for event, p in info.broadcasts.items()]
    if info.any_broadcast:
        broadcasts.append(f"{i2}[event: string]: unknown;")
    out.extend([f"{i1}broadcasts: {{", *broadcasts, f"{i1}}};"] if broadcasts else [f"{i1}broadcasts: {{}};"])
    out.append("  };")
    return out


def typescript_module(api: ApiDescription, *, client: str = "./socketapi.js") -> str:
    """The TypeScript source; ``client`` is the import path of ``socketapi.js`` (its ``.d.ts`` beside it)."""
    types = _Types(api.schemas)
    out = [
        f"// The API of {api.title} {api.version}, generated by `python -m socketapi typescript`. Do not edit:",
        "// regenerate it when the app's handlers change.",
        f"import type {{ Channel, ChannelMessage, RequestOptions, Socket, Unsubscribe }} from {json.dumps(client)};",
        "",
    ]
    for key, schema in api.schemas.items():
        out.append(
            _comment(schema.get("description", ""), "") + f"export type {types.names[key]} = {types.expr(schema)};"
        )
        out.append("")
    out.append("/** Every action: the arguments of `call` after the name, and the result. */")
    out.append("export interface Actions {")
    for action in api.actions:
        out.append(_comment(action.doc, "  ") + f"  {json.dumps(action.name)}: {{")
        out.append(f"    args: [{types.params(action.params, '    ')}, options?: RequestOptions];")
        out.append(f"    result: {types.result(action.result, '    ')};")
        out.append("  };")
    out.append("}")
    out.append("")
    out.append("/** Every channel, by topic pattern. */")
    out.append("export interface Channels {")
    for channel in api.channels:
        out.extend(_channel(types, channel))
    out.append("}")
    out.append("")
    out.append("export type ActionName = keyof Actions;")
    out.append("export type ChannelPattern = keyof Channels;")
    out.append("")
    params: dict[str, Any] = {c.pattern: list(c.topic_params) for c in api.channels}
    entries = "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in params.items())
    out.append("const TOPIC_PARAMETERS: { readonly [P in ChannelPattern]: readonly string[] } = {\n" + entries + "};")
    out.append("")
    out.append(_RUNTIME)
    return "\n".join(out)
