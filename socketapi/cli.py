"""``python -m socketapi COMMAND``: the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .schema.commands import CommandError, asyncapi_json, emit, load_app, typescript_source


def _asyncapi(args: argparse.Namespace) -> None:
    emit(asyncapi_json(load_app(args.app)), args.output)


def _typescript(args: argparse.Namespace) -> None:
    emit(typescript_source(load_app(args.app), client=args.client), args.output)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m socketapi", description="socketapi's command line.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    asyncapi = commands.add_parser("asyncapi", help="print the app's AsyncAPI 3.0 document (JSON)")
    asyncapi.add_argument("app", metavar="MODULE:APP", help="the app, as for uvicorn: example_app:app")
    asyncapi.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    asyncapi.set_defaults(run=_asyncapi)

    typescript = commands.add_parser("typescript", help="print typed TypeScript wrappers over socketapi.js")
    typescript.add_argument("app", metavar="MODULE:APP", help="the app, as for uvicorn: example_app:app")
    typescript.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    typescript.add_argument(
        "--client",
        default="./socketapi.js",
        metavar="PATH",
        help="where the module imports socketapi.js's types from (default: ./socketapi.js)",
    )
    typescript.set_defaults(run=_typescript)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
