"""What one compressed frame costs the server: plain uvicorn against ``socketapi run``.

A client sends one frame of 15 MiB of a single letter, which permessage-deflate shrinks to about
15 KB on the wire. Plain uvicorn inflates it up to its own 16 MiB limit before socketapi sees it;
``socketapi run`` sets uvicorn's ``ws_max_size`` from the app's ``max_frame_size`` (1 MiB), so
the frame is refused as it inflates. Prints each server's peak resident memory growth (VmHWM)
and the ratio; loopback only, one frame per server, every wait bounded.

    python bench/deflate_bomb.py
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
FRAME = json.dumps({"type": "action", "channel": "add_numbers", "data": {"a": "a" * (15 * 1024 * 1024)}})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def measure(command: list[str], port: int) -> tuple[int, str]:
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"server did not start: {command}")
            time.sleep(0.05)
        with connect(f"ws://127.0.0.1:{port}/", max_size=None, open_timeout=10) as ws:
            before = peak_kib(process.pid)
            ws.send(FRAME)
            try:
                ws.recv(timeout=20)
                outcome = "answered"
            except ConnectionClosed as closed:
                outcome = (
                    f"closed {closed.rcvd.code if closed.rcvd else None}: {closed.rcvd.reason if closed.rcvd else ''}"
                )
        time.sleep(0.5)
        return peak_kib(process.pid) - before, outcome
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    deflated = len(zlib.compress(FRAME.encode())) / 1024
    print(f"frame: {len(FRAME) / 2**20:.1f} MiB of JSON, about {deflated:.0f} KiB deflated")
    results = {}
    for name, args in {
        "uvicorn example_app:app": ["-m", "uvicorn", "example_app:app", "--log-level", "warning"],
        "socketapi run example_app:app": ["-m", "socketapi", "run", "example_app:app", "--log-level", "warning"],
    }.items():
        port = free_port()
        growth, outcome = measure([sys.executable, *args, "--host", "127.0.0.1", "--port", str(port)], port)
        results[name] = growth
        print(f"{name:32} peak RSS +{growth / 1024:6.1f} MiB  ({outcome})")
    plain, ours = results.values()
    print(f"ratio plain/socketapi run: {plain / max(ours, 1):.0f}x (one run; the machine may be shared)")


if __name__ == "__main__":
    main()
