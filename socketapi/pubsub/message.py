"""The one object a broadcast travels as, from publisher to every subscriber on every node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_core import from_json, to_json

from ..exceptions import BackendError

_UNSET: Any = object()


class Broadcast:
    """A message on a topic whose payload is encoded to JSON exactly once, at the publisher.

    Wire formats turn it into a frame through :meth:`frame`, which caches the text per format,
    so a broadcast to ten thousand subscribers is serialized once, not ten thousand times.
    """

    __slots__ = ("_data", "_frames", "event", "latest", "offset", "payload", "skip", "topic")

    def __init__(
        self, topic: str, event: str | None, payload: bytes, data: Any = _UNSET, offset: int | None = None
    ) -> None:
        self.topic = topic
        self.event = event
        self.payload = payload
        self._data = data
        self.offset = offset  # its place in the topic's history; None on topics without history
        self.skip: str | None = None  # names the subscriber a recorded ``broadcast_from`` leaves out
        self._frames: dict[Callable[[Broadcast], str], str] = {}
        # (encoder, frame) of the last frame() call: a subscriber's delivery reads it without a call.
        self.latest: tuple[Callable[[Broadcast], str], str] | None = None

    @classmethod
    def encode(cls, topic: str, data: Any, event: str | None = None) -> Broadcast:
        # Strict JSON (RFC 8259): a non-finite float is sent as null, never as NaN or Infinity.
        return cls(topic, event, to_json(data, inf_nan_mode="null"), data)

    @property
    def data(self) -> Any:
        """The payload as Python values (decoded lazily; only outgoing filters need it)."""
        if self._data is _UNSET:
            self._data = from_json(self.payload)
        return self._data

    def frame(self, encoder: Callable[[Broadcast], str]) -> str:
        """The frame for ``encoder``, encoded once per format; a delivery reads :attr:`latest` first
        (every subscriber of one wire format shares one encoder) and calls this only when it misses."""
        try:
            text = self._frames[encoder]
        except KeyError:
            text = self._frames[encoder] = encoder(self)
        self.latest = (encoder, text)
        return text

    def to_envelope(self, node_id: str) -> bytes:
        """The bytes that cross the broker: a JSON header line, then the encoded payload.

        The header is ``[node, topic, event]``, followed by ``offset`` (and ``skip``) for a
        broadcast recorded in a topic's history.
        """
        if self.offset is None:
            return to_json([node_id, self.topic, self.event]) + b"\n" + self.payload
        header = [node_id, self.topic, self.event, self.offset]
        if self.skip is not None:
            header.append(self.skip)
        return to_json(header) + b"\n" + self.payload

    @classmethod
    def from_envelope(cls, raw: bytes) -> tuple[str, Broadcast]:
        header, sep, payload = raw.partition(b"\n")
        try:
            node_id, topic, event, *recorded = from_json(header)
        except (ValueError, TypeError) as exc:
            raise BackendError(f"Malformed broadcast envelope: {raw[:80]!r}") from exc
        if not sep or not isinstance(node_id, str) or not isinstance(topic, str) or len(recorded) > 2:
            raise BackendError(f"Malformed broadcast envelope: {raw[:80]!r}")
        message = cls(topic, event, payload)
        if recorded:
            offset = recorded[0]
            if not isinstance(offset, int) or isinstance(offset, bool):
                raise BackendError(f"Malformed broadcast envelope: {raw[:80]!r}")
            message.offset = offset
            if len(recorded) == 2 and isinstance(recorded[1], str):
                message.skip = recorded[1]
        return node_id, message

    def __repr__(self) -> str:
        offset = "" if self.offset is None else f", offset={self.offset}"
        return f"Broadcast(topic={self.topic!r}, event={self.event!r}{offset}, payload={self.payload[:60]!r})"
