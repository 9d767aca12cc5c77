"""The app ``bench/presence.py`` serves: one presence channel whose subscribers track themselves.

Configured by environment: ``PRESENCE_PUBSUB`` is the pub/sub URL (``memory://`` or a Redis
URL with its ``?prefix=``), ``PRESENCE_WINDOW`` the coalescing window in seconds.
"""

from __future__ import annotations

import os

from socketapi import Channel, SocketAPI

app = SocketAPI(pubsub=os.environ.get("PRESENCE_PUBSUB", "memory://"), max_queue=100_000, idle_timeout=None)
app.presence.configure(window=float(os.environ.get("PRESENCE_WINDOW", "0.05")))


class Room(Channel):
    topic = "room"
    presence = True

    async def join(self, user: str) -> None:
        await self.track(user, {"n": user})


app.register(Room)
