"""The same three endpoints on socketapi 0.2.0 from PyPI, written as its README does.

This file runs only in the benchmark's own virtualenv for 0.2.0 (the package name is the same
as this repository's), from this folder: ``uvicorn socketapi020_app:app``.
"""

# No ``from __future__ import annotations`` here: 0.2.0 reads parameter annotations as they are.
from socketapi import SocketAPI

app = SocketAPI()


@app.action("add_numbers")
async def add_numbers(a: int, b: int) -> int:
    return a + b


@app.channel("chat")
async def chat(message: str = "Welcome") -> dict[str, str]:
    return {"message": message}


@app.action("send_message")
async def send_message(message: str) -> None:
    await chat(message=message)
