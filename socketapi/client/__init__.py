"""An asyncio client for socketapi servers (``pip install "socketapi[client]"``, built on ``websockets``).

    async with connect("ws://127.0.0.1:8000/") as socket:
        assert await socket.call("add_numbers", {"a": 5, "b": 3}) == 8
        room = socket.channel("room:1", {"nick": "ann"})
        await room.join()

Requests are matched to answers by ``ref`` and time out; the socket reconnects with exponential
backoff and jitter and rejoins its channels (with ``since`` on topics with history); heartbeats
notice a dead connection. See docs/clients.md.
"""

from __future__ import annotations

try:
    import websockets  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError('socketapi.client needs the websockets library: pip install "socketapi[client]"') from exc

from .backoff import Backoff
from .channel import Channel, Message, Rejoin, StreamPosition
from .errors import SocketError
from .presence import Presence
from .socket import CloseInfo, Socket, connect

__all__ = [
    "Backoff",
    "Channel",
    "CloseInfo",
    "Message",
    "Presence",
    "Rejoin",
    "Socket",
    "SocketError",
    "StreamPosition",
    "connect",
]
