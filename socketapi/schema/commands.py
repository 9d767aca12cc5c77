"""The ``asyncapi`` and ``typescript`` commands: load an app from ``MODULE:APP``, print or write its description."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .asyncapi import asyncapi_document
from .describe import describe
from .typescript import typescript_module

if TYPE_CHECKING:
    from ..app import SocketAPI


class CommandError(Exception):
    """A mistake in the command's input: reported as one line, with a non-zero exit status."""


def load_app(spec: str) -> SocketAPI:
    """The app named by ``MODULE:APP`` (``APP`` may be dotted), imported from the current directory too."""
    from ..app import SocketAPI

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise CommandError(f"expected MODULE:APP (for example example_app:app), got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise CommandError(f"cannot import {module_name!r}: no module named {exc.name!r}") from None
        raise CommandError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:
        raise CommandError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CommandError(f"{module_name!r} has no attribute {attr!r}") from None
    if not isinstance(obj, SocketAPI):
        raise CommandError(f"{spec} is {type(obj).__name__} {obj!r:.60}, not a SocketAPI app")
    return obj


def asyncapi_json(app: SocketAPI) -> str:
    """The app's AsyncAPI document, as served at ``/asyncapi.json`` (indented for reading)."""
    api = describe(app.endpoints, title=app.schema.title, version=app.schema.version, path=app.schema.path)
    return json.dumps(asyncapi_document(api), indent=2, ensure_ascii=False) + "\n"


def typescript_source(app: SocketAPI, *, client: str = "./socketapi.js") -> str:
    """The app's typed TypeScript wrappers over ``socketapi.js`` (imported from ``client``)."""
    api = describe(app.endpoints, title=app.schema.title, version=app.schema.version, path=app.schema.path)
    return typescript_module(api, client=client)


def emit(text: str, output: str | None) -> None:
    """Print ``text``, or write it to the file ``output``."""
    if output is None or output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
