"""Models named like the generated module's own names (tests/schema/test_typescript.py)."""

from pydantic import BaseModel

from socketapi import SocketAPI

app = SocketAPI()


class Socket(BaseModel):
    id: int


class Actions(BaseModel):
    names: list[str]


class TypedSocket(BaseModel):
    socket: Socket


@app.action("clash")
async def clash(socket: Socket, actions: Actions) -> TypedSocket:
    return TypedSocket(socket=socket)
