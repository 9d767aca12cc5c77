"""The browser page at ``/`` (HTTP GET; the WebSocket stays at ``/``): a chat room over ``/socketapi.js``."""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse

PAGE = Path(__file__).resolve().parent / "index.html"


async def index(_request: Request) -> FileResponse:
    return FileResponse(PAGE, media_type="text/html; charset=utf-8")
