"""The Python client's cost and the time it takes to come back after a server restart.

Prints figures; it is not a test. Run from the repository root::

    python bench/clients.py [--calls 3000] [--concurrency 50] [--restarts 5]

- *calls/s*: ``--calls`` calls of the example app's ``add_numbers`` over one socket, one at a
  time and then ``--concurrency`` in flight, through ``socketapi.client`` and through a bare
  ``websockets`` connection sending the same frames (matched by ``ref``): the ratio is what
  the client's bookkeeping (futures, timeouts, ref matching) costs.
- *reconnect*: the server is stopped (SIGTERM) and started again on the same port
  ``--restarts`` times; the figure is from the moment the new server listens to the moment the
  client's ``on_open`` fires and a call succeeds, for the default backoff and a fast one, and for
  socketapi.js under node with its default backoff (when node and ``npm ci``'s ``ws`` are there).

Server and client share this machine (and its cores with whatever else runs): compare the
ratios of one run, not absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: use this checkout's socketapi

from socketapi.client import Backoff, connect  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Node:
    """``uvicorn example_app:app`` on a fixed loopback port, started and stopped by PID."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start; return the monotonic time at which it listens."""
        command = [sys.executable, "-m", "uvicorn", "example_app:app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning", "--ws-per-message-deflate", "false"]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return time.monotonic()
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not listen on {self.port}")
            time.sleep(0.005)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def client_calls(url: str, calls: int, concurrency: int) -> float:
    async with connect(url, heartbeat_interval=None) as socket:
        started = time.perf_counter()
        if concurrency == 1:
            for i in range(calls):
                assert await socket.call("add_numbers", {"a": i, "b": 1}) == i + 1
        else:

            async def worker(indices: range) -> None:
                for i in indices:
                    assert await socket.call("add_numbers", {"a": i, "b": 1}) == i + 1

            share = calls // concurrency
            await asyncio.gather(*(worker(range(k * share, (k + 1) * share)) for k in range(concurrency)))
        return calls / (time.perf_counter() - started)


async def raw_calls(url: str, calls: int, concurrency: int) -> float:
    """The same frames on a bare websockets connection: send ``concurrency``, then refill as answers come."""
    async with ws_connect(url, ping_interval=None, compression=None) as ws:
        refs = itertools.count(1)
        started = time.perf_counter()
        sent = 0
        for _ in range(min(concurrency, calls)):
            await ws.send(
                json.dumps({"type": "action", "channel": "add_numbers", "data": {"a": 1, "b": 1}, "ref": next(refs)})
            )
            sent += 1
        for _ in range(calls):
            frame = json.loads(await ws.recv())
            assert frame["data"] == 2
            if sent < calls:
                await ws.send(
                    json.dumps(
                        {"type": "action", "channel": "add_numbers", "data": {"a": 1, "b": 1}, "ref": next(refs)}
                    )
                )
                sent += 1
        return calls / (time.perf_counter() - started)


async def reconnect_times(node: Node, restarts: int, backoff: Backoff) -> list[float]:
    times = []
    opened = asyncio.Event()
    async with connect(f"ws://127.0.0.1:{node.port}/", backoff=backoff, heartbeat_interval=None) as socket:
        socket.on_open(opened.set)
        for _ in range(restarts):
            opened.clear()
            await asyncio.to_thread(node.stop)
            listening = await asyncio.to_thread(node.start)
            async with asyncio.timeout(30):
                await opened.wait()
                assert await socket.call("add_numbers", {"a": 1, "b": 1}) == 2
            times.append(time.monotonic() - listening)
    return times


# socketapi.js under node: prints the wall-clock time of every open and of the call answered after it.
JS_RECONNECTS = """
import { WebSocket } from "ws";
import { Socket } from "./socketapi/static/socketapi.js";
const socket = new Socket(process.argv[1], { WebSocket, heartbeatInterval: 0 });
socket.onOpen(async () => {
  await socket.call("add_numbers", { a: 1, b: 1 });
  console.log(Date.now() / 1000);
});
await socket.connect();
process.stdin.on("end", () => socket.disconnect()).resume();
"""


async def js_reconnect_times(node: Node, restarts: int) -> list[float]:
    """The same as ``reconnect_times`` for socketapi.js with its default backoff (needs node and ``npm ci``)."""
    process = await asyncio.create_subprocess_exec(
        "node",
        "--input-type=module",
        "-e",
        JS_RECONNECTS,
        f"ws://127.0.0.1:{node.port}/",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    times = []
    try:
        async with asyncio.timeout(30):
            await process.stdout.readline()  # the first open
        for _ in range(restarts):
            await asyncio.to_thread(node.stop)
            await asyncio.to_thread(node.start)
            listening = time.time()  # wall clock: node's Date.now() is compared with it
            async with asyncio.timeout(30):
                answered = float(await process.stdout.readline())
            times.append(answered - listening)
    finally:
        process.stdin.close()
        async with asyncio.timeout(10):
            await process.wait()
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--restarts", type=int, default=5)
    args = parser.parse_args()

    node = Node(free_port())
    node.start()
    try:
        url = f"ws://127.0.0.1:{node.port}/"
        await client_calls(url, 200, 1)  # warm up the server
        print(f"calls through one socket ({args.calls} calls of add_numbers)")
        for concurrency in (1, args.concurrency):
            ours, raw = [], []
            for _ in range(5):  # interleaved, so that a disturbance of the shared machine hits both
                raw.append(await raw_calls(url, args.calls, concurrency))
                ours.append(await client_calls(url, args.calls, concurrency))
            a, b = statistics.median(ours), statistics.median(raw)
            print(f"  {concurrency:>3} in flight: client {a:7.0f}/s   bare websockets {b:7.0f}/s   ratio {a / b:.2f}x")

        print(
            f"reconnect after a restart on the same port ({args.restarts} restarts): from listening to a call answered"
        )
        for name, backoff in (
            ("default backoff", Backoff()),
            ("fast backoff (0.05 s initial)", Backoff(initial=0.05, max=0.5)),
        ):
            times = await reconnect_times(node, args.restarts, backoff)
            print(f"  {name:<30} median {statistics.median(times) * 1000:6.0f} ms   max {max(times) * 1000:6.0f} ms")
        if shutil.which("node") and (ROOT / "node_modules" / "ws").exists():
            times = await js_reconnect_times(node, args.restarts)
            name = "socketapi.js, default backoff"
            print(f"  {name:<30} median {statistics.median(times) * 1000:6.0f} ms   max {max(times) * 1000:6.0f} ms")
    finally:
        node.stop()


if __name__ == "__main__":
    asyncio.run(main())
