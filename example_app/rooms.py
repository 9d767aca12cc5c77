"""The class API: ``room:{room_id}`` channels with nicknames, and a ``multiply`` action."""

from typing import Any

from socketapi import Action, Channel, JoinRefused, on_event


class RoomChannel(Channel):
    """Subscribe with ``{"type": "subscribe", "channel": "room:1", "data": {"nick": "ann"}}``."""

    topic = "room:{room_id}"

    async def join(self, room_id: int, nick: str) -> dict[str, Any]:
        if not nick.strip():
            raise JoinRefused("A nickname is required.")
        self.nick = nick  # per-subscriber state: lives as long as this subscription
        self.sent = 0
        await self.broadcast_from("joined", {"nick": nick})
        return {"welcome": nick, "room": room_id}

    @on_event("shout")
    async def shout(self, text: str) -> dict[str, int]:
        self.sent += 1
        await self.broadcast("shout", {"from": self.nick, "text": text})
        return {"sent": self.sent}

    async def leave(self, reason: str) -> None:
        await self.broadcast_from("left", {"nick": self.nick, "reason": reason})


class Multiply(Action):
    name = "multiply"

    async def handle(self, a: int, b: int) -> int:
        return a * b


class ChatRoomChannel(RoomChannel):
    """The browser page's room (``/``): a RoomChannel that also keeps who is here and what was said.

    ``presence``: every member gets ``presence_state`` and ``presence_diff`` (SPEC 7.2), the list
    the page shows. ``history``: a page back from a dropped connection gets what it missed (SPEC 7.3).
    """

    topic = "chatroom:{room_id}"
    presence = True
    history = 100

    async def join(self, room_id: int, nick: str) -> dict[str, Any]:
        reply = await super().join(room_id, nick)
        await self.track(nick, {})
        return reply
