"""``GET /asyncapi``: the AsyncAPI document as one self-contained HTML page (no script, no CDN).

Everything on the page is read from the document itself, so the page and ``/asyncapi.json``
cannot disagree. ``schema_routes`` gives both endpoints; the document is built on the first
request and rebuilt only when the app's registered names change.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .asyncapi import asyncapi_document
from .describe import ApiDescription, describe

if TYPE_CHECKING:
    from ..router import Router

Schema = dict[str, Any]

_CODE = re.compile(r"`([^`]+)`")
_FRAME_BASICS = frozenset({"type", "channel", "event", "status", "data", "ref"})  # shown by the example frame

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d232a;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.6em}
header p{margin:.3em 0 0;color:#c9d1d9;max-width:60em}header code{background:#30363d;color:#fff}
nav{padding:.6em 2em;background:#fff;border-bottom:1px solid #dde1e6}nav a{margin-right:1.2em}
main{padding:1em 2em 3em;max-width:72em}h2{margin-top:1.6em;border-bottom:2px solid #dde1e6}
section.item{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.6em 1.2em;margin:1em 0}
h3{margin:.3em 0}h3 .kind{font-size:.7em;text-transform:uppercase;color:#fff;border-radius:3px;
padding:.1em .5em;margin-right:.6em;vertical-align:middle}.action{background:#0969da}.channel{background:#1a7f37}
.socket{background:#6e7781}h4{margin:1em 0 .3em}.dir{font-size:.8em;color:#57606a;font-weight:normal}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
code{background:#eff1f3;padding:.1em .3em;border-radius:3px}
pre{background:#f6f8fa;border:1px solid #dde1e6;padding:.6em;white-space:pre-wrap;border-radius:4px}
table{border-collapse:collapse;margin:.3em 0 .6em}td,th{border:1px solid #dde1e6;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f6f8fa}.req{color:#cf222e;font-size:.8em}
.muted{color:#57606a}details summary{cursor:pointer;color:#0969da}
"""


def _text(value: str) -> str:
    """Escaped text with `code` spans."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(value))


def _paragraphs(value: str) -> str:
    return "".join(f"<p>{_text(p.strip())}</p>" for p in value.split("\n\n") if p.strip())


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _json(value: Any) -> str:
    return html.escape(json.dumps(value, indent=2, ensure_ascii=False))


def type_label(schema: Schema) -> str:
    """A short, linked description of a schema's type: ``array of Item``, ``integer ≥ 1``."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#{_anchor("schema", name)}">{html.escape(name)}</a>'
    if "const" in schema:
        return f"<code>{html.escape(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{html.escape(json.dumps(v))}</code>" for v in schema["enum"])
    for key, joiner in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if key in schema:
            return joiner.join(type_label(s) for s in schema[key])
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(type_label(s) for s in schema["prefixItems"]) + "]"
        return "array of " + type_label(schema.get("items", {}))
    if kind == "object" and "properties" not in schema:
        extra = schema.get("additionalProperties")
        return "object of " + type_label(extra) if isinstance(extra, dict) else "object"
    label = html.escape(str(kind or "any"))
    if "format" in schema:
        label += f" ({html.escape(schema['format'])})"
    bounds = [
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
    ]
    for key, sign in bounds:
        if key in schema:
            label += f" {sign} {html.escape(str(schema[key]))}"
    if "pattern" in schema:
        label += f" matching <code>{html.escape(schema['pattern'])}</code>"
    return label


def _object_fields(schema: Schema) -> Schema | None:
    """The properties of an object schema with some; ``None`` for any other schema."""
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = schema["allOf"][0]
    properties = schema.get("properties")
    return properties if schema.get("type") == "object" and properties else None


def fields_table(schema: Schema) -> str:
    """The properties of an object schema as a table; any other schema as one line."""
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = schema["allOf"][0]
    properties = _object_fields(schema)
    if properties is None:
        if schema.get("type") == "object" and "properties" in schema:
            return '<p class="muted">No fields.</p>'
        return f"<p>{type_label(schema)}</p>"
    required = set(schema.get("required", []))
    show_default = any("default" in p for p in properties.values())
    show_description = any(p.get("description") for p in properties.values())
    rows = []
    for name, prop in properties.items():
        cells = [
            f"<code>{html.escape(name)}</code>" + (' <span class="req">required</span>' if name in required else ""),
            type_label(prop),
        ]
        if show_default:
            cells.append(f"<code>{_json(prop['default'])}</code>" if "default" in prop else "")
        if show_description:
            cells.append(_text(prop.get("description", "")))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        nested = prop.get("properties")
        if nested and prop.get("type") == "object":  # a Depends: its own fields, one level down
            rows.append(f'<tr><td></td><td colspan="{len(cells) - 1}">{fields_table(prop)}</td></tr>')
    heads = ["field", "type", *(["default"] if show_default else []), *(["description"] if show_description else [])]
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


class _Page:
    def __init__(self, document: Schema) -> None:
        self.doc = document
        self.components = document.get("components", {})

    def resolve(self, item: Schema) -> Schema:
        ref = item.get("$ref")
        if not isinstance(ref, str):
            return item
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node  # type: ignore[no-any-return]

    def message(self, key: str, message: Schema, direction: str) -> str:
        message = self.resolve(message)
        payload = message.get("payload", {})
        out = [f'<h4>{html.escape(message.get("title", key))} <span class="dir">{direction}</span></h4>']
        if message.get("summary"):
            out.append(f"<p>{_text(message['summary'])}</p>")
        if message.get("description"):
            out.append(_paragraphs(message["description"]))
        data = payload.get("properties", {}).get("data")
        if data is not None:
            label = "<code>data</code>" + ("" if "data" in payload.get("required", []) else " (optional)")
            if _object_fields(data) is not None:
                out.append(f"<p>{label}:</p>{fields_table(data)}")
            elif data.get("type") == "object" and "properties" in data:
                out.append(f'<p>{label}: <span class="muted">no fields</span></p>')
            else:  # one line: "data: integer"
                out.append(f"<p>{label}: {type_label(data)}</p>")
        others = {k: v for k, v in payload.get("properties", {}).items() if k not in _FRAME_BASICS}
        if others:  # the frame's own extras: since, offset, epoch, recovered...
            extras = {"type": "object", "properties": others, "required": payload.get("required", [])}
            out.append(f"<p>Also in the frame:</p>{fields_table(extras)}")
        for sample in message.get("examples", []):
            out.append(f"<pre>{html.escape(json.dumps(sample['payload'], ensure_ascii=False))}</pre>")
        return "".join(out)

    def channel(self, cid: str, channel: Schema, directions: dict[str, str]) -> str:
        address = channel.get("address")
        kind = "action" if cid.startswith("action.") else "channel" if address is not None else "socket"
        name = address if address is not None else "the connection"
        out = [
            f'<section class="item" id="{_anchor(kind, cid)}">',
            f'<h3><span class="kind {kind}">{kind}</span><code>{html.escape(name)}</code></h3>',
        ]
        if channel.get("description"):
            out.append(_paragraphs(channel["description"]))
        parameters = channel.get("parameters", {})
        if parameters:
            rows = "".join(
                f"<tr><td><code>{html.escape(p)}</code></td><td>{_text(v.get('description', ''))}</td></tr>"
                for p, v in parameters.items()
            )
            out.append(f"<p>Topic parameters:</p><table>{rows}</table>")
        for key, message in channel.get("messages", {}).items():
            if key == "error" and kind != "socket":
                continue
            out.append(self.message(key, message, directions.get(key, "")))
        out.append("</section>")
        return "".join(out)

    def directions(self) -> dict[str, dict[str, str]]:
        """channel id -> message key -> "client → server" or "server → client", from the operations."""
        found: dict[str, dict[str, str]] = {}
        for op in self.doc.get("operations", {}).values():
            cid = op["channel"]["$ref"].rsplit("/", 1)[-1]
            sent = "client → server" if op["action"] == "receive" else "server → client"
            for m in op.get("messages", []):
                found.setdefault(cid, {})[m["$ref"].rsplit("/", 1)[-1]] = sent
            for m in op.get("reply", {}).get("messages", []):
                found.setdefault(cid, {})[m["$ref"].rsplit("/", 1)[-1]] = "server → client"
        return found

    def render(self) -> str:
        info = self.doc["info"]
        directions = self.directions()
        channels = self.doc.get("channels", {})
        actions = [self.channel(c, ch, directions.get(c, {})) for c, ch in channels.items() if c.startswith("action.")]
        topics = [self.channel(c, ch, directions.get(c, {})) for c, ch in channels.items() if c.startswith("channel.")]
        socket = [self.channel(c, ch, directions.get(c, {})) for c, ch in channels.items() if c.startswith("socket.")]
        error = self.components.get("messages", {}).get("socketapi.error")
        schemas = self.components.get("schemas", {})
        schema_sections = [
            f'<section class="item" id="{_anchor("schema", name)}"><h3><code>{html.escape(name)}</code></h3>'
            + (_paragraphs(s["description"]) if s.get("description") else "")
            + fields_table(s)
            + f"<details><summary>JSON Schema</summary><pre>{_json(s)}</pre></details></section>"
            for name, s in schemas.items()
        ]
        parts = [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(info['title'])} {html.escape(info['version'])}</title>",
            f"<style>{_STYLE}</style></head><body>",
            f"<header><h1>{html.escape(info['title'])} <small>{html.escape(info['version'])}</small></h1>",
            _paragraphs(info.get("description", "")),
            "</header>",
            '<nav><a href="#actions">Actions</a><a href="#channels">Channels</a>'
            '<a href="#connection">Connection and errors</a><a href="#schemas">Schemas</a>'
            '<a href="asyncapi.json">AsyncAPI document (JSON)</a></nav><main>',
            '<h2 id="actions">Actions</h2>',
            *(actions or ['<p class="muted">No actions are registered.</p>']),
            '<h2 id="channels">Channels</h2>',
            *(topics or ['<p class="muted">No channels are registered.</p>']),
            '<h2 id="connection">Connection and errors</h2>',
            *socket,
            self.message("error", error, "server → client") if error else "",
            '<h2 id="schemas">Schemas</h2>',
            *schema_sections,
            "</main></body></html>",
        ]
        return "\n".join(parts)


def asyncapi_html(document: Schema) -> str:
    """The readable page of an AsyncAPI document produced by :func:`asyncapi_document`."""
    return _Page(document).render()


class SchemaEndpoints:
    """Builds the document once and serves it; rebuilt only if the registered names changed.

    Mounted under a prefix (``Mount("/ws", app)``), the document gives the socket's path with
    the prefix; each prefix's rendering is kept too.
    """

    def __init__(self, router: Router, *, title: str, version: str, path: str) -> None:
        self.router = router
        self.title = title
        self.version = version
        self.path = path
        self._key: tuple[Any, ...] | None = None
        self._api: ApiDescription | None = None
        self._rendered: dict[str, tuple[bytes, str]] = {}  # root path -> (JSON, page)

    def _render(self, request: Request) -> tuple[bytes, str]:
        key = (tuple(self.router.actions), tuple(self.router.channels))
        if key != self._key or self._api is None:
            self._api = describe(self.router, title=self.title, version=self.version, path=self.path)
            self._rendered.clear()
            self._key = key
        root = str(request.scope.get("root_path", "")).rstrip("/")
        rendered = self._rendered.get(root)
        if rendered is None:
            document = asyncapi_document(dataclasses.replace(self._api, path=root + self.path))
            rendered = json.dumps(document, ensure_ascii=False).encode(), asyncapi_html(document)
            if len(self._rendered) < 16:  # a few mount points, not one per spoofed header
                self._rendered[root] = rendered
        return rendered

    async def document(self, request: Request) -> Response:
        return Response(self._render(request)[0], media_type="application/json")

    async def page(self, request: Request) -> Response:
        return HTMLResponse(self._render(request)[1])

    def routes(self) -> list[Route]:
        return [Route("/asyncapi.json", self.document), Route("/asyncapi", self.page)]
