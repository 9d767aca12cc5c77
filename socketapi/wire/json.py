"""Wire format version 1: the JSON frames of socketapi 0.2.0, plus the opt-in ``ref`` and ping.

The only module that knows what a v1 frame looks like (SPEC section 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ECHO_LIMIT, FrameError, InvalidFrame, UnknownMessageType, clip
from ..types import StreamPosition
from .base import MAX_REF_INT, DecodeError, Inbound, dumps, load_text

if TYPE_CHECKING:
    from ..pubsub.message import Broadcast
    from ..types import JSON, Ref, Scope

INBOUND_TYPES = frozenset({"action", "subscribe", "unsubscribe", "event", "ping"})
REF_TOO_LONG = f"'ref' is too long: at most {ECHO_LIMIT} characters, or an integer up to 2^53 - 1."
MAX_OFFSET = 2**63 - 1  # offsets are 64-bit counters in every history store
MAX_EPOCH_LENGTH = 256


class JSONWire:
    """socketapi's own format (SPEC section 1). Without ``ref`` a client sees exactly 0.2.0's frames.

    It numbers no joins: ``join_ref`` is always ``None`` here, and encoders ignore it.
    """

    subprotocols: tuple[str, ...] = ()

    def refuse(self, scope: Scope) -> str | None:
        return None

    def decode(self, raw: str | bytes) -> Inbound:
        obj = load_text(raw, "Binary frames are not supported; send JSON as text.")
        if not isinstance(obj, dict):
            raise DecodeError(InvalidFrame("A message must be a JSON object."))
        ref = obj.get("ref")
        if ref is not None:
            if isinstance(ref, bool) or not isinstance(ref, (str, int)):
                raise DecodeError(InvalidFrame("'ref' must be a string or an integer."))
            if len(ref) > ECHO_LIMIT if isinstance(ref, str) else abs(ref) > MAX_REF_INT:
                raise DecodeError(InvalidFrame(REF_TOO_LONG))  # it is echoed: a huge one makes every answer huge
        raw_channel = obj.get("channel")
        channel = raw_channel if isinstance(raw_channel, str) else None
        message_type = obj.get("type")
        if not message_type:
            raise DecodeError(InvalidFrame("Message type is required."), ref, channel)
        if message_type == "ping":
            return Inbound("ping", ref=ref)
        if not raw_channel:
            raise DecodeError(InvalidFrame("Channel is required."), ref)
        if channel is None:
            raise DecodeError(InvalidFrame("'channel' must be a string."), ref)
        if not isinstance(message_type, str) or message_type not in INBOUND_TYPES:
            raise DecodeError(UnknownMessageType(message_type), ref, channel)
        data = obj.get("data", {})
        if not isinstance(data, dict):
            raise DecodeError(InvalidFrame("'data' must be a JSON object."), ref, channel)
        event = None
        if message_type == "event":
            event = obj.get("event")
            if not event or not isinstance(event, str):
                raise DecodeError(InvalidFrame("Event is required."), ref, channel)
        since = None
        if message_type == "subscribe" and "since" in obj:
            since = _since(obj["since"], ref, channel)
        return Inbound(message_type, channel, data, ref, event, since=since)

    def action_result(self, name: str, result: JSON, ref: Ref | None) -> str:
        frame: dict[str, Any] = {"type": "action", "channel": name, "status": "completed"}
        if result is not None:
            frame["data"] = result
        if ref is not None:
            frame["ref"] = ref
        return dumps(frame)

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
        frame: dict[str, Any] = {"type": "subscribed", "channel": topic}
        if reply is not None:
            frame["data"] = reply
        if position is not None:
            frame["offset"] = position.offset
            frame["epoch"] = position.epoch
        if recovered is not None:
            frame["recovered"] = recovered
        if ref is not None:
            frame["ref"] = ref
        return dumps(frame)

    def unsubscribed(self, topic: str, ref: Ref | None, join_ref: Ref | None = None) -> str:
        frame: dict[str, Any] = {"type": "unsubscribed", "channel": topic}
        if ref is not None:
            frame["ref"] = ref
        return dumps(frame)

    def closed(self, topic: str, join_ref: Ref | None) -> str | None:
        return None  # v1 ends a subscription only when asked, and says so with ``unsubscribed``

    def reply(self, topic: str, event: str, data: JSON, ref: Ref | None, join_ref: Ref | None = None) -> str:
        frame: dict[str, Any] = {"type": "reply", "channel": topic, "event": event, "status": "ok", "data": data}
        if ref is not None:
            frame["ref"] = ref
        return dumps(frame)

    def push(self, topic: str, event: str | None, data: JSON, join_ref: Ref | None = None) -> str:
        frame: dict[str, Any] = {"type": "data", "channel": topic}
        if event is not None:
            frame["event"] = event
        frame["data"] = data
        return dumps(frame)

    def broadcast(self, message: Broadcast) -> str:
        # The payload is already JSON (encoded once by the publisher): splice it in, don't re-encode.
        head = '{"type":"data","channel":' + dumps(message.topic)
        if message.event is not None:
            head += ',"event":' + dumps(message.event)
        if message.offset is not None:
            head += ',"offset":' + str(message.offset)
        return head + ',"data":' + message.payload.decode() + "}"

    def error(
        self, error: FrameError, *, ref: Ref | None = None, channel: str | None = None, join_ref: Ref | None = None
    ) -> str:
        frame: dict[str, Any] = {"type": "error", "message": error.message}
        if error.data is not None:
            frame["data"] = error.data
        if ref is not None:
            frame["ref"] = ref
            frame["code"] = error.code
            if channel is not None:
                frame["channel"] = clip(channel)
        return dumps(frame)

    def pong(self, ref: Ref | None) -> str:
        return '{"type":"pong"}' if ref is None else dumps({"type": "pong", "ref": ref})


_BAD_SINCE = '\'since\' must be an object {"offset": integer >= 0, "epoch": string}.'


def _since(value: Any, ref: Ref | None, channel: str) -> StreamPosition:
    """A subscribe's ``since``: the last offset the client saw, in the epoch it saw it in."""
    if not isinstance(value, dict) or set(value) != {"offset", "epoch"}:
        raise DecodeError(InvalidFrame(_BAD_SINCE), ref, channel)
    offset, epoch = value["offset"], value["epoch"]
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise DecodeError(InvalidFrame(_BAD_SINCE), ref, channel)
    if not isinstance(epoch, str) or len(epoch) > MAX_EPOCH_LENGTH:
        raise DecodeError(InvalidFrame(_BAD_SINCE), ref, channel)
    return StreamPosition(offset, epoch)
