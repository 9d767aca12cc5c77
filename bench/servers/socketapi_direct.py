"""socketapi's example app served by the direct transport: ``socketapi.serve(app, transport="direct")``.

Run with ``python socketapi_direct.py --port N [--loop uvloop|asyncio]``; the app is the one
``uvicorn example_app:app`` serves, imported from the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import socketapi
from example_app import app

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    socketapi.serve(app, args.host, args.port, transport="direct", loop=args.loop)
