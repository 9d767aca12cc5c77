"""The ``socketapi`` command (also ``python -m socketapi``): ``run``, ``asyncapi`` and ``typescript``.

Each subcommand is a function that adds its parser to the subparsers and sets ``handler``;
:data:`COMMANDS` lists them, so a new one is a function and a line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .exceptions import ImproperlyConfigured
from .schema.commands import OutputError, asyncapi_json, emit, typescript_source

# uvicorn's WebSocket keepalive: a ping every 20 s, and a socket whose pong is 20 s late is closed.
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
# The ASGI transport's listening socket: the kernel drops a peer that leaves data unacknowledged this long.
TCP_USER_TIMEOUT = 10.0


def load_app(target: str) -> Any:
    """The object ``module:attribute`` names, imported with the current directory on the path."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ImproperlyConfigured(f"Expected MODULE:APP (e.g. main:app), got {target!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise ImproperlyConfigured(f"Module {module_name!r} has no attribute {attribute!r}") from None
    return obj


def socket_apps(app: Any) -> list[Any]:
    """The SocketAPI apps inside ``app``: itself, or those mounted in it (a FastAPI app's ``Mount``)."""
    from .app import SocketAPI

    if isinstance(app, SocketAPI):
        return [app]
    found = []
    routes = getattr(app, "routes", ())
    if not isinstance(routes, (list, tuple)):  # not a Starlette app: some other object's `routes`
        return []
    for route in routes:
        inner = getattr(route, "app", None)
        if inner is not None and inner is not app:
            found.extend(socket_apps(inner))
    return found


def uvicorn_settings(app: Any, log_level: str = "info") -> dict[str, Any]:
    """uvicorn's settings that must match the app: the WebSocket size limit, pings, logging, shutdown_timeout.

    ``ws_max_size`` is the app's ``max_frame_size``, so the server refuses a frame (close 1009)
    as soon as it inflates past the limit; uvicorn's default (16 MiB) would inflate a small
    compressed frame that far before the app could say no.
    """
    from .logs import logging_config

    settings: dict[str, Any] = {
        "ws_ping_interval": PING_INTERVAL,
        "ws_ping_timeout": PING_TIMEOUT,
        "log_config": logging_config(log_level),
    }
    apps = socket_apps(app)
    if apps:
        settings["ws_max_size"] = min(a.limits.max_frame_size for a in apps)
        # uvicorn's own wait for the connections (with graceful_shutdown=False, the only one) ends too
        settings["timeout_graceful_shutdown"] = max(a.limits.shutdown_timeout for a in apps)
    return settings


def run(args: argparse.Namespace) -> int:
    if args.transport == "direct":
        return run_direct(args)
    try:
        import uvicorn
    except ImportError:
        print("socketapi run needs uvicorn: pip install 'socketapi[server]'", file=sys.stderr)
        return 2
    app = load_app(args.app)
    inner = socket_apps(app)
    host = args.host or (inner[0].server_host if inner else "localhost")
    port = args.port or (inner[0].server_port if inner else 8000)
    settings = uvicorn_settings(app, args.log_level)
    settings.update(ws_ping_interval=args.ws_ping_interval, ws_ping_timeout=args.ws_ping_timeout)
    if args.fd is not None:
        settings["fd"] = args.fd
    if args.reload:  # the reloader imports the app afresh in each child: it needs the import string
        uvicorn.run(args.app, host=host, port=port, reload=True, **settings)
        return 0
    if args.fd is not None or not args.tcp_user_timeout:
        uvicorn.run(app, host=host, port=port, **settings)
        return 0
    # Our own listening socket, so that the kernel drops a client that stops taking data
    # (TCP_USER_TIMEOUT): an ASGI app cannot abort a connection, and without this such a
    # client's descriptor stays open for as long as its TCP connection lives.
    from .transport.tcp import listening_socket

    try:
        sock = listening_socket(host, port, user_timeout=args.tcp_user_timeout)
    except OSError as exc:
        print(f"socketapi run: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    server = uvicorn.Server(uvicorn.Config(app, **settings))  # (its Config sets up logging)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    # uvicorn says where it listens only for a socket it bound itself.
    logging.getLogger("uvicorn.error").info("Serving on http://%s:%d (press Ctrl+C to stop)", shown, bound_port)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 3  # 3: uvicorn's own code for an app that failed to start


def run_direct(args: argparse.Namespace) -> int:
    """Serve on the direct transport (picows, no ASGI server): see docs/transports.md."""
    import logging.config

    from .app import SocketAPI
    from .logs import direct_logging_config
    from .serving import serve

    if args.reload:
        print("socketapi run: --reload needs --transport asgi", file=sys.stderr)
        return 2
    app = load_app(args.app)
    if not isinstance(app, SocketAPI):
        raise ImproperlyConfigured(
            f"{args.app} is not a SocketAPI app: the direct transport serves a SocketAPI app itself, not one"
            " mounted inside another (serve that one with --transport asgi)"
        )
    try:
        from .transport.direct import Liveness
    except ImportError:
        print("socketapi run --transport direct needs picows: pip install 'socketapi[fast]'", file=sys.stderr)
        return 2
    logging.config.dictConfig(direct_logging_config(args.log_level))
    liveness = Liveness(args.ws_ping_interval, args.ws_ping_timeout)
    host, port = args.host or app.server_host, args.port or app.server_port
    options: dict[str, Any] = {"liveness": liveness}
    if args.fd is not None:
        import socket

        options["sock"] = socket.socket(fileno=args.fd)
    serve(app, host, port, transport="direct", loop=args.loop, **options)
    return 0


def _seconds(text: str) -> float:
    """A number of seconds, zero or more (argparse reports anything else as a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0:  # (also refuses nan)
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text!r}")
    return value


def add_run(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="serve an app with uvicorn, with settings matching the app",
        description="Serve MODULE:APP with uvicorn: WebSocket size limit from max_frame_size, pings, logging.",
    )
    parser.add_argument("app", metavar="MODULE:APP", help="where the app is, e.g. main:app")
    parser.add_argument("--host", help="address to listen on (default: the app's host, else localhost)")
    parser.add_argument("--port", type=int, help="port to listen on (default: the app's port, else 8000)")
    parser.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    parser.add_argument(
        "--transport",
        default="asgi",
        choices=["asgi", "direct"],
        help="asgi: uvicorn (default); direct: picows without ASGI, faster (pip install 'socketapi[fast]')",
    )
    parser.add_argument(
        "--loop",
        default="auto",
        choices=["auto", "uvloop", "asyncio"],
        help="the direct transport's event loop (auto: uvloop when installed)",
    )
    parser.add_argument(
        "--ws-ping-interval", type=float, default=PING_INTERVAL, help="seconds between WebSocket pings (default 20)"
    )
    parser.add_argument(
        "--ws-ping-timeout", type=float, default=PING_TIMEOUT, help="seconds a ping's answer may take (default 20)"
    )
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket instead of --host/--port")
    parser.add_argument(
        "--tcp-user-timeout",
        type=_seconds,
        default=TCP_USER_TIMEOUT,
        metavar="SECONDS",
        help="drop a connection whose data the client leaves unacknowledged this long (Linux; 0: off; default 10)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="socketapi's log level"
    )
    parser.set_defaults(handler=run)


def load_socket_app(target: str) -> Any:
    """The one SocketAPI app ``target`` names (itself, or mounted in it); a clear error for anything else."""
    module_name = target.partition(":")[0]
    try:
        obj = load_app(target)
    except ImproperlyConfigured:
        raise
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ImproperlyConfigured(f"Cannot import {module_name!r}: no module named {exc.name!r}") from None
        raise ImproperlyConfigured(f"Importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise ImproperlyConfigured(f"Importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    apps = socket_apps(obj)
    if not apps:
        raise ImproperlyConfigured(f"{target} is {type(obj).__name__} {obj!r:.60}, not a SocketAPI app")
    if len(apps) > 1:
        raise ImproperlyConfigured(f"{target} holds {len(apps)} SocketAPI apps; name the one to describe")
    return apps[0]


def asyncapi(args: argparse.Namespace) -> int:
    emit(asyncapi_json(load_socket_app(args.app)), args.output)
    return 0


def typescript(args: argparse.Namespace) -> int:
    emit(typescript_source(load_socket_app(args.app), client=args.client), args.output)
    return 0


def add_asyncapi(commands: Any) -> None:
    parser = commands.add_parser(
        "asyncapi",
        help="print the app's AsyncAPI 3.0 document (JSON)",
        description="Print MODULE:APP's AsyncAPI 3.0 document, as served at /asyncapi.json (docs/asyncapi.md).",
    )
    parser.add_argument("app", metavar="MODULE:APP", help="where the app is, e.g. main:app")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    parser.set_defaults(handler=asyncapi)


def add_typescript(commands: Any) -> None:
    parser = commands.add_parser(
        "typescript",
        help="print typed TypeScript wrappers over socketapi.js",
        description="Print a TypeScript module typing MODULE:APP's actions and channels (docs/asyncapi.md).",
    )
    parser.add_argument("app", metavar="MODULE:APP", help="where the app is, e.g. main:app")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    parser.add_argument(
        "--client",
        default="./socketapi.js",
        metavar="PATH",
        help="where the module imports socketapi.js's types from (default: ./socketapi.js)",
    )
    parser.set_defaults(handler=typescript)


COMMANDS: list[Callable[[Any], None]] = [add_run, add_asyncapi, add_typescript]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="socketapi", description="Real-time WebSocket APIs.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (ImproperlyConfigured, OutputError) as exc:
        print(f"socketapi {args.command}: {exc}", file=sys.stderr)
        return 2
    return code
