"""Wire formats: the only code that knows what a frame looks like on the socket."""

from .base import DecodeError, Inbound, WireFormat
from .json import JSONWire

__all__ = ["DecodeError", "Inbound", "JSONWire", "WireFormat"]
