"""Serving the socket under a prefix of another Starlette or FastAPI app."""

from __future__ import annotations

from starlette.routing import Match, Mount
from starlette.types import Scope


def _route_path(scope: Scope) -> str:
    """The path below the mounts already passed (what Starlette's routing matches against)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


class SocketMount(Mount):
    """``Mount`` that also answers the bare prefix: the socket at ``/ws`` as well as ``/ws/``.

    Starlette's ``Mount("/ws", app=...)`` matches ``/ws/...`` only, and a WebSocket is never
    redirected, so ``new WebSocket("ws://host/ws")`` would get a 403. Everything else is
    ``Mount``'s: HTTP routes of the mounted app live under the prefix.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "websocket" and self.path and _route_path(scope) == self.path:
            match, child = super().matches({**scope, "path": scope["path"] + "/"})
            if match is Match.FULL:
                child["path"] = scope["path"] + "/"
            return match, child
        return super().matches(scope)
