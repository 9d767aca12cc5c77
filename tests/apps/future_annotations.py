"""A module written with postponed annotations: handlers must still validate and resolve Annotated extras."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from socketapi import Depends, RequiredOnSubscribe, SocketAPI

app = SocketAPI()


class Item(BaseModel):
    name: str
    qty: int


async def current_user(token: str) -> str:
    return f"user-{token}"


@app.action("order")
async def order(item: Item, user: Annotated[str, Depends(current_user)]) -> dict[str, object]:
    return {"item": item, "user": user}


@app.channel("orders", default_response=True)
async def orders(shop: Annotated[int, RequiredOnSubscribe], note: str = "open") -> dict[str, object]:
    return {"shop": shop, "note": note}
