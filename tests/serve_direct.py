"""``python -m tests.serve_direct MODULE:APP --port N``: serve an app on the direct transport.

The end-to-end tests start their servers with this on the direct transport, as they start
uvicorn on the ASGI one (see tests/support.py); it is ``socketapi.serve(app, transport="direct")``
with the logging uvicorn would set up.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os

import socketapi

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    module, _, attribute = args.app.partition(":")
    loop = os.environ.get("SOCKETAPI_TEST_LOOP", "auto")
    app = getattr(importlib.import_module(module), attribute)
    socketapi.serve(app, args.host, args.port, transport="direct", loop=loop)  # type: ignore[arg-type]
