"""socketapi.js and socketapi.d.ts: the JavaScript client, shipped in the package and served by the app."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

HERE = Path(__file__).resolve().parent

# URL path -> (file beside this module, media type). The .d.ts is text so that a browser shows it.
FILES = {
    "/socketapi.js": ("socketapi.js", "text/javascript; charset=utf-8"),
    "/socketapi.d.ts": ("socketapi.d.ts", "text/plain; charset=utf-8"),
}


def client_routes() -> list[Route]:
    """HTTP GET routes serving the JavaScript client and its types."""

    def serve(path: str, name: str, media_type: str) -> Route:
        async def endpoint(_request: Request) -> Response:
            return FileResponse(HERE / name, media_type=media_type)

        return Route(path, endpoint, methods=["GET"])

    return [serve(path, name, media_type) for path, (name, media_type) in FILES.items()]
