"""Serving an app from Python: ``socketapi.serve(app)`` and ``await app.serve()``, on either transport.

``"direct"`` serves the app's WebSocket paths on picows without an ASGI server (the optional
extra ``socketapi[fast]``); ``"asgi"`` hands the app to uvicorn. Both run the app's lifespan
and its graceful shutdown on SIGTERM/SIGINT. See docs/transports.md.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from .app import SocketAPI

Transport = Literal["direct", "asgi"]
TRANSPORTS: tuple[Transport, ...] = ("direct", "asgi")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve(
    app: SocketAPI,
    host: str | None = None,
    port: int | None = None,
    *,
    transport: str = "direct",
    loop: Literal["auto", "uvloop", "asyncio"] = "auto",
    **options: Any,
) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT; blocks. On uvloop when it is installed.

    ``options`` go to the transport: for ``"direct"``, ``liveness`` and ``http`` (see
    :func:`socketapi.transport.direct.serve`); for ``"asgi"``, uvicorn's ``Config`` keywords.
    """
    check_transport(transport)
    if loop == "uvloop" or (loop == "auto" and importlib.util.find_spec("uvloop") is not None):
        import uvloop

        uvloop.run(serve_async(app, host, port, transport=transport, **options))
    else:
        asyncio.run(serve_async(app, host, port, transport=transport, **options))


async def serve_async(
    app: SocketAPI, host: str | None = None, port: int | None = None, *, transport: str = "direct", **options: Any
) -> None:
    """:func:`serve` in a running event loop (``await app.serve(...)`` calls this)."""
    check_transport(transport)
    if host is None:
        host = app.server_host or DEFAULT_HOST
    if port is None:
        port = app.server_port or DEFAULT_PORT
    if transport == "direct":
        try:
            from .transport import direct
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"The direct transport needs picows ({exc}): pip install 'socketapi[fast]'"
            ) from exc
        await direct.serve(app, host, port, **options)
        return
    try:
        import uvicorn
    except ImportError as exc:
        raise ImproperlyConfigured("The ASGI transport needs uvicorn: pip install 'socketapi[server]'") from exc
    options.setdefault("ws_max_size", app.limits.max_frame_size)
    options.setdefault("timeout_graceful_shutdown", app.limits.shutdown_timeout)  # uvicorn's wait ends too
    await uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options)).serve()


def check_transport(name: str) -> None:
    if name not in TRANSPORTS:
        raise ImproperlyConfigured(f"Unknown transport {name!r}: choose from {', '.join(TRANSPORTS)}")
