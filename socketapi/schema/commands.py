"""What the ``asyncapi`` and ``typescript`` commands print: an app's description as text, to stdout or a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import SocketAPIError
from .asyncapi import asyncapi_document
from .describe import describe
from .typescript import typescript_module

if TYPE_CHECKING:
    from ..app import SocketAPI


class OutputError(SocketAPIError):
    """The output file cannot be written: reported in one line, with a non-zero exit status."""


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
        raise OutputError(f"Cannot write {output}: {exc.strerror or exc}") from None
