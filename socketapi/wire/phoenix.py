"""Phoenix Channels' V2 JSON serializer (``vsn=2.0.0``): every frame ``[join_ref, ref, topic, event, payload]``.

The only module that knows Phoenix's frame shapes, so that the official ``phoenix`` client
joins socketapi channels unmodified (SPEC 7.4; the whole mapping is in docs/phoenix.md):

- ``phx_join``/``phx_leave`` are subscribe/unsubscribe, ``heartbeat`` on topic ``phoenix``
  is a ping; every other event is a channel event;
- every answer is a ``phx_reply`` ``{"status": "ok"|"error", "response": ...}`` echoing
  the client's ``join_ref`` and ``ref``; pushes carry the subscriber's ``join_ref``,
  broadcasts none; the end of a subscription is ``phx_close``.

Actions (protocol v1's request/response) have no Phoenix frame: Phoenix's request/response is
a channel event and its reply. Binary frames (Phoenix's binary serializer) are not supported.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..exceptions import ECHO_LIMIT, FrameError, InvalidFrame, NotSubscribed, UnknownChannel, clip
from .base import MAX_REF_INT, DecodeError, Inbound, dumps, load_text

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from ..pubsub.message import Broadcast
    from ..types import JSON, Ref, Scope, StreamPosition

VSN = "2.0.0"
SUBPROTOCOL = "phoenix"
AUTH_TOKEN_PREFIX = "base64url.bearer.phx."  # phoenix.js sends its ``authToken`` as this subprotocol
SOCKET_TOPIC = "phoenix"  # the topic of heartbeats and of errors that belong to no channel
UNMATCHED = {"reason": "unmatched topic"}
ARITY = "A message must be a JSON array [join_ref, ref, topic, event, payload]."
REFS = f"'join_ref' and 'ref' must be null, strings of at most {ECHO_LIMIT} characters or integers up to 2^53 - 1."


def _is_ref(value: object) -> bool:
    """A ``join_ref`` or ``ref`` we may echo: every answer carries it, so a huge one is refused."""
    if value is None:
        return True
    if isinstance(value, str):
        return len(value) <= ECHO_LIMIT
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_REF_INT


def _ok(response: JSON) -> dict[str, Any]:
    return {"status": "ok", "response": {} if response is None else response}


def auth_token(connection: HTTPConnection) -> str | None:
    """The token phoenix.js sent with its ``authToken`` option, for the ``on_connect`` hook; ``None`` if none.

    phoenix.js cannot set headers on a WebSocket, so it offers the token as a subprotocol
    ``base64url.bearer.phx.<token in base64, unpadded>`` beside ``phoenix`` (it encodes with
    ``btoa``, so both base64 alphabets are read); the server selects ``phoenix``, never the token.
    """
    for offered in connection.scope.get("subprotocols") or ():
        if isinstance(offered, str) and offered.startswith(AUTH_TOKEN_PREFIX):
            encoded = offered[len(AUTH_TOKEN_PREFIX) :]
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, ValueError):  # ValueError: not UTF-8
                return None
    return None


class PhoenixWire:
    """Phoenix's V2 JSON frames, for the official ``phoenix`` client (see the module docstring)."""

    subprotocols: tuple[str, ...] = (SUBPROTOCOL,)

    def refuse(self, scope: Scope) -> str | None:
        query = scope.get("query_string", b"").decode("latin-1")
        versions = parse_qs(query).get("vsn")
        if versions != [VSN]:
            return f"Phoenix serializer vsn={versions[0] if versions else '(none)'} is not served; only {VSN} is"
        return None

    def decode(self, raw: str | bytes) -> Inbound:
        obj = load_text(raw, "Binary frames are not supported; send JSON arrays as text.")
        if not isinstance(obj, list):
            raise DecodeError(InvalidFrame(ARITY))
        # Whatever of the ref and topic can be read lets the client match the error to its push.
        ref = obj[1] if len(obj) > 1 and _is_ref(obj[1]) else None
        topic = obj[2] if len(obj) > 2 and isinstance(obj[2], str) else None
        if len(obj) != 5:
            raise DecodeError(InvalidFrame(ARITY), ref, topic)
        join_ref, raw_ref, raw_topic, event, payload = obj
        if not _is_ref(join_ref) or not _is_ref(raw_ref):
            raise DecodeError(InvalidFrame(REFS), ref, topic)
        if not raw_topic or topic is None:
            raise DecodeError(InvalidFrame("The topic must be a non-empty string."), ref)
        if not event or not isinstance(event, str):
            raise DecodeError(InvalidFrame("The event must be a non-empty string."), ref, topic)
        if event == "heartbeat" and topic == SOCKET_TOPIC:
            return Inbound("ping", ref=ref)
        if event == "phx_leave":
            return Inbound("unsubscribe", topic, {}, ref, join_ref=join_ref)
        if not isinstance(payload, dict):
            raise DecodeError(InvalidFrame("The payload must be a JSON object."), ref, topic)
        if event == "phx_join":
            return Inbound("subscribe", topic, payload, ref, join_ref=join_ref)
        return Inbound("event", topic, payload, ref, event, join_ref)

    # -- answers: phx_reply ---------------------------------------------------------------------

    def action_result(self, name: str, result: JSON, ref: Ref | None) -> str:
        # Never reached: no Phoenix frame decodes to an action. A reply on the socket's topic if it were.
        return dumps([None, ref, SOCKET_TOPIC, "phx_reply", _ok(result)])

    def subscribed(
        self,
        topic: str,
        reply: JSON,
        ref: Ref | None,
        join_ref: Ref | None = None,
        *,
        position: StreamPosition | None = None,
        recovered: bool | None = None,
    ) -> str:
        # Recovery (offsets, epochs) is protocol v1's: over Phoenix a history topic joins as any other.
        return dumps([join_ref, ref, topic, "phx_reply", _ok(reply)])

    def unsubscribed(self, topic: str, ref: Ref | None, join_ref: Ref | None = None) -> str:
        return dumps([join_ref, ref, topic, "phx_reply", _ok(None)])

    def reply(self, topic: str, event: str, data: JSON, ref: Ref | None, join_ref: Ref | None = None) -> str:
        return dumps([join_ref, ref, topic, "phx_reply", _ok(data)])

    def pong(self, ref: Ref | None) -> str:
        return dumps([None, ref, SOCKET_TOPIC, "phx_reply", _ok(None)])

    def error(
        self, error: FrameError, *, ref: Ref | None = None, channel: str | None = None, join_ref: Ref | None = None
    ) -> str:
        response: dict[str, Any]
        if isinstance(error, (UnknownChannel, NotSubscribed)):
            response = dict(UNMATCHED)  # Phoenix's words for a topic the socket cannot join or has not joined
        else:
            response = {"reason": error.message}
            if isinstance(error.data, dict):
                response.update(error.data)
            elif error.data is not None:
                response["data"] = error.data
        # The topic routes the answer in phoenix.js: whole for a joined channel's error; clipped for
        # the rest (bad frames, unmatched topics), so an error frame stays small whatever was sent.
        topic = (channel if join_ref is not None else clip(channel)) if channel else SOCKET_TOPIC
        if ref is None:  # nothing to reply to (an error in after_join, handle_out, ...): an "error" push
            return dumps([join_ref, None, topic, "error", response])
        return dumps([join_ref, ref, topic, "phx_reply", {"status": "error", "response": response}])

    # -- server-initiated frames ----------------------------------------------------------------

    def push(self, topic: str, event: str | None, data: JSON, join_ref: Ref | None = None) -> str:
        return dumps([join_ref, None, topic, "data" if event is None else event, data])

    def broadcast(self, message: Broadcast) -> str:
        # The payload is already JSON (encoded once by the publisher): splice it in, don't re-encode.
        event = '"data"' if message.event is None else dumps(message.event)
        return "[null,null," + dumps(message.topic) + "," + event + "," + message.payload.decode() + "]"

    def closed(self, topic: str, join_ref: Ref | None) -> str | None:
        return dumps([join_ref, join_ref, topic, "phx_close", {}])
