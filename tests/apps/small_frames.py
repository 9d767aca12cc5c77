"""An app with a small frame limit, served by ``socketapi run`` in the tests."""

from socketapi import SocketAPI

app = SocketAPI(host="127.0.0.1", port=8000, max_frame_size=64 * 1024)


@app.action("echo")
async def echo(text: str) -> str:
    return text


@app.action("fail")
async def fail() -> None:
    raise RuntimeError("boom in a handler")
