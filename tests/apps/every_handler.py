"""An app with every kind of handler the schema must describe (tests/test_schema*.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from socketapi import Action, Channel, Depends, JoinRefused, RequiredOnSubscribe, Router, Socket, SocketAPI, on_event

app = SocketAPI()


class Color(StrEnum):
    red = "red"
    blue = "blue"


class Tag(BaseModel):
    label: str
    color: Color = Color.red


class Item(BaseModel):
    """One line of an order."""

    name: str = Field(min_length=1, description="What is ordered.")
    qty: int = Field(default=1, ge=1)
    tags: list[Tag] = []


class Order(BaseModel):
    items: list[Item]
    note: str | None = None
    placed: datetime | None = None


class Receipt(BaseModel):
    order: Order
    total: float
    kind: Literal["receipt"] = "receipt"


class TreeNode(BaseModel):
    """A recursive model."""

    name: str
    children: list[TreeNode] = []


class Page(BaseModel):
    page: int
    size: int


async def auth(token: str) -> str:
    return f"user:{token}"


async def page_of(page: int = 1, size: Annotated[int, Field(le=100)] = 10) -> Page:
    return Page(page=page, size=size)


async def scoped(user: Annotated[str, Depends(auth)], scope: str = "read") -> str:
    return f"{user}/{scope}"


# -- actions: decorator API ------------------------------------------------------------------


@app.action("place_order")
async def place_order(order: Order, user: Annotated[str, Depends(auth)], express: bool = False) -> Receipt:
    """Place an order; the receipt echoes it."""
    return Receipt(order=order, total=float(sum(i.qty for i in order.items)))


@app.action("list_items")
async def list_items(paging: Annotated[Page, Depends(page_of)], who: Annotated[str, Depends(scoped)]) -> list[Item]:
    return [Item(name=f"item{paging.page}")]


@app.action("ping_me")
async def ping_me(socket: Socket) -> None:
    """Takes nothing from the client and returns nothing."""


@app.action("echo")
async def echo(value, **extra):  # type: ignore[no-untyped-def]
    return {"value": value, **extra}


@app.action("tree")
async def tree(root: TreeNode) -> TreeNode | None:
    return root


@app.action("sum")
async def sum_numbers(numbers: list[float], start: float = 0.0) -> float:
    return start + sum(numbers)


@app.action("matrix")
async def matrix(rows: list[dict[str, int] | None], label: Literal["a|b", 'say "hi"'] = "a|b") -> tuple[int, str]:
    """Unions inside arrays, and literals with quotes and bars."""
    return len(rows), label


# -- actions: class API ------------------------------------------------------------------------


class Multiply(Action):
    """Multiply two integers."""

    name = "math.multiply"

    async def handle(self, a: int, b: int = 2) -> int:
        return a * b


class Lookup(Action):
    name = "lookup"

    async def handle(self, keys: dict[str, list[int]], tag: Tag | None = None) -> dict[str, Any]:
        return {"keys": keys, "tag": tag}


# -- channels: decorator API -------------------------------------------------------------------


@app.channel("news")
async def news(headline: str = "") -> dict[str, str]:
    return {"headline": headline}


@app.channel("prices/{symbol}", default_response=True)
async def prices(
    symbol: str, currency: Annotated[Literal["EUR", "USD"], RequiredOnSubscribe], depth: int = 5
) -> dict[str, float]:
    """Quotes of one symbol, in the currency a subscriber asks for."""
    return {symbol: 1.0}


@app.channel("shop/{shop_id}/orders/{order_id}")
async def order_status(
    shop_id: int, order_id: int, status: str = "new", who: Annotated[str, Depends(auth), RequiredOnSubscribe] = ""
) -> Order:
    return Order(items=[])


@app.channel("ticker", history=10)
async def ticker(price: float = 0.0) -> dict[str, float]:
    return {"price": price}


router = Router()


@router.channel("alerts")
async def alerts(level: int = 0) -> None:
    return None


@router.action("router.hello")
async def hello(name: str = "world") -> str:
    return f"hello {name}"


app.include_router(router)


# -- channels: class API -----------------------------------------------------------------------


class JoinReply(BaseModel):
    welcome: str
    members: int


class RoomChannel(Channel):
    """A chat room with typed events."""

    topic = "room:{room_id}"

    async def join(self, room_id: int, nick: str, avatar: Item | None = None) -> JoinReply:
        if not nick:
            raise JoinRefused("nick required")
        return JoinReply(welcome=nick, members=1)

    @on_event("shout")
    async def shout(self, text: str, loud: bool = False) -> dict[str, int]:
        """Say something to everyone."""
        return {"sent": 1}

    @on_event("typing")
    async def typing(self) -> None:
        return None

    @on_event("order")
    async def order(self, order: Order) -> Receipt:
        return Receipt(order=order, total=0)


class Lobby(Channel):
    topic = "lobby"

    async def handle_in(self, event: str, payload: dict[str, Any]) -> Any:
        return {"event": event}


class Plain(Channel):
    """A channel that keeps every default hook, on a pattern with a string parameter."""

    topic = "user:{user_id}:feed"


class Team(Channel):
    """Presence and history: the engine's own pushes, and offsets on broadcasts."""

    topic = "team:{team_id}"
    presence = True
    history = 50

    async def join(self, team_id: int, user: str) -> None:
        self.user = user

    async def after_join(self) -> None:
        await self.track(self.user, {"online": True})

    @on_event("post")
    async def post(self, text: str) -> dict[str, str]:
        await self.broadcast("post", {"from": self.user, "text": text})
        return {"posted": text}


app.register(Multiply, Lookup, RoomChannel, Lobby, Plain, Team)

empty_app = SocketAPI()
