"""Fan-out through Redis across two nodes, against the same fan-out in memory on one node.

Prints figures; it is not a test. Run from the repository root, with Redis reachable::

    python bench/scaling.py [--subscribers 1000] [--burst 200] [--rounds 3] [--paced 200] [--payload 64]

For each setup it starts the uvicorn node(s) serving ``bench/apps_scaling.py``, connects
``--subscribers`` WebSocket clients (split evenly across the nodes) and subscribes them all to
one channel. A client on the first node then calls an action that broadcasts:

- ``--rounds`` *bursts* of ``--burst`` messages back to back: deliveries per second is
  messages times subscribers over the time from the first publish to the last delivery of
  the last message (the median of the rounds is reported);
- ``--paced`` messages, each fired once the previous reached every subscriber: the latency is
  from the publish (a timestamp taken in the server just before broadcasting) to the moment
  the last subscriber received it.

Last, it times what a topic's first subscriber waits in ``Hub.subscribe`` (Redis's confirmation
of the per-topic ``SUBSCRIBE``), the price of subscribing per topic rather than to one pattern.

The clients run in this process (asyncio), the nodes and Redis in theirs, all on this machine:
figures compare setups on one machine, they are not capacities.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: use this checkout's socketapi

from socketapi.pubsub import Broadcast, Hub, PubSubBackend, backend_from_url  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TIMEOUT = 60.0


# -- nodes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def node(pubsub: str, payload: int) -> Iterator[tuple[str, int]]:
    """A uvicorn process serving the bench app; yields its URL and PID, stops it by that PID."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "apps_scaling:app", "--app-dir", str(ROOT / "bench")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--ws-per-message-deflate", "false"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SCALING_PUBSUB": pubsub, "SCALING_PAYLOAD": str(payload)},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not listen on {port}")
            time.sleep(0.05)
        yield f"ws://127.0.0.1:{port}/", process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- clients -----------------------------------------------------------------------------------


class Subscriber(asyncio.Protocol):
    """A minimal WebSocket reader: after the handshake it only splits frames and counts ``seq``.

    Parsing frames in ``data_received`` (no task wake-up, no JSON decoding per frame) keeps
    the clients' cost far below the server's, so the figures describe the nodes.
    """

    def __init__(self, fleet: Fleet, url: str) -> None:
        self.fleet = fleet
        self.host, self.port = url.removeprefix("ws://").rstrip("/").split(":")
        self.buffer = bytearray()
        self.handshaken = False
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send_text(self, text: str) -> None:
        """One short masked text frame (clients must mask; this client sends only the subscribe)."""
        assert self.transport is not None
        payload, mask = text.encode(), os.urandom(4)
        assert len(payload) < 126
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.transport.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.handshaken:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert buffer.startswith(b"HTTP/1.1 101"), bytes(buffer[:80])
            del buffer[: end + 4]
            self.handshaken = True
            self.send_text('{"type":"subscribe","channel":"fanout"}')
        pos = 0
        while len(buffer) - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if len(buffer) - pos < 4:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                length, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
            if len(buffer) < start + length:
                break
            self.frame(bytes(buffer[start : start + length]))
            pos = start + length
        del buffer[:pos]

    def frame(self, payload: bytes) -> None:
        at = payload.find(b'"seq":')
        if at < 0:
            if payload.startswith(b'{"type":"subscribed"'):
                self.subscribed.set_result(None)
            return
        seq = int(payload[at + 6 : payload.index(b",", at)])
        self.fleet.delivered(seq, payload)


@dataclass
class Fleet:
    """Every subscriber socket, and when each message reached the last of them."""

    total: int
    count: dict[int, int] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    published: dict[int, float] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    transports: list[asyncio.Transport] = field(default_factory=list)
    duplicates: int = 0

    def expect(self, seqs: range) -> None:
        for seq in seqs:
            self.count[seq] = 0
            self.done[seq] = asyncio.Event()

    async def join(self, url: str, n: int) -> None:
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(100)

        async def one() -> None:
            async with limit:
                protocol = Subscriber(self, url)
                transport, _ = await loop.create_connection(lambda: protocol, protocol.host, int(protocol.port))
                self.transports.append(transport)
                await asyncio.wait_for(protocol.subscribed, TIMEOUT)

        await asyncio.gather(*(one() for _ in range(n)))

    def delivered(self, seq: int, payload: bytes) -> None:
        n = self.count[seq] = self.count[seq] + 1
        if n == self.total:
            self.last[seq] = time.time()
            at = payload.index(b'"t":') + 4
            self.published[seq] = float(payload[at : payload.index(b",", at)])
            self.done[seq].set()
        elif n > self.total:
            self.duplicates += 1

    async def close(self) -> None:
        for transport in self.transports:
            transport.close()


async def fire(ws: ClientConnection, start: int, count: int) -> None:
    await ws.send(json.dumps({"type": "action", "channel": "fire", "data": {"start": start, "count": count}}))


@dataclass
class Result:
    name: str
    deliveries_per_s: float
    latency_ms: list[float]
    node_cpu_s: float
    redis_cpu_s: float
    deliveries: int

    @property
    def p50(self) -> float:
        return statistics.median(self.latency_ms)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.latency_ms, n=10)[8]

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.latency_ms, n=100)[98]

    @property
    def cpu_us_per_delivery(self) -> float:
        return (self.node_cpu_s + self.redis_cpu_s) / self.deliveries * 1e6


async def measure(
    name: str, urls: list[str], pids: list[int], redis_pid: int | None, args: argparse.Namespace
) -> Result:
    fleet = Fleet(total=args.subscribers)
    share, extra = divmod(args.subscribers, len(urls))
    for i, url in enumerate(urls):
        await fleet.join(url, share + (1 if i < extra else 0))
    # The publisher never reads its action results: an unbounded queue keeps its close prompt.
    async with connect(urls[0], compression=None, max_queue=None, open_timeout=TIMEOUT) as publisher:
        seq = 0
        fleet.expect(range(seq, seq + 20))  # warm-up
        await fire(publisher, seq, 20)
        await asyncio.wait_for(fleet.done[seq + 19].wait(), TIMEOUT)
        seq += 20

        cpu_before = sum(cpu_seconds(pid) for pid in pids), cpu_seconds(redis_pid) if redis_pid else 0.0
        rates = []
        for _ in range(args.rounds):
            burst = range(seq, seq + args.burst)
            fleet.expect(burst)
            await fire(publisher, burst.start, len(burst))
            await asyncio.wait_for(asyncio.gather(*(fleet.done[s].wait() for s in burst)), TIMEOUT)
            elapsed = max(fleet.last[s] for s in burst) - fleet.published[burst.start]
            rates.append(len(burst) * args.subscribers / elapsed)
            seq = burst.stop
        node_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before[0]
        redis_cpu = (cpu_seconds(redis_pid) if redis_pid else 0.0) - cpu_before[1]

        latencies = []
        for s in range(seq, seq + args.paced):
            fleet.expect(range(s, s + 1))
            await fire(publisher, s, 1)
            await asyncio.wait_for(fleet.done[s].wait(), TIMEOUT)
            latencies.append((fleet.last[s] - fleet.published[s]) * 1000)
    await fleet.close()
    if fleet.duplicates:
        raise AssertionError(f"{name}: {fleet.duplicates} duplicate deliveries")
    deliveries = args.rounds * args.burst * args.subscribers
    return Result(name, statistics.median(rates), latencies, node_cpu, redis_cpu, deliveries)


class Nobody:
    """A hub subscriber that discards what it is given."""

    def deliver(self, message: Broadcast) -> None:
        pass


async def join_cost(backend: PubSubBackend, topics: int) -> list[float]:
    """Milliseconds each first subscriber of a new topic waits in ``Hub.subscribe``."""
    waits = []
    async with Hub(backend) as hub:
        for i in range(topics):
            start = time.perf_counter()
            await hub.subscribe(f"topic:{i}", Nobody())
            waits.append((time.perf_counter() - start) * 1000)
    return waits


def redis_server_pid(url: str) -> tuple[int | None, str]:
    client = redis.Redis.from_url(url)
    try:
        info = client.info("server")
    finally:
        client.close()
    pid = int(info["process_id"])
    return (pid if Path(f"/proc/{pid}").exists() else None), str(info["redis_version"])


async def run(args: argparse.Namespace) -> tuple[list[Result], dict[str, list[float]]]:
    redis_pid, _ = redis_server_pid(args.redis)
    redis_pubsub = f"{args.redis}{'&' if '?' in args.redis else '?'}prefix=bench-{uuid.uuid4().hex[:8]}:"
    joins = {
        "memory": await join_cost(backend_from_url("memory://"), args.topics),
        "redis": await join_cost(backend_from_url(redis_pubsub), args.topics),
    }
    results = []
    with node("memory://", args.payload) as (url, pid):
        results.append(await measure("memory, 1 node", [url], [pid], None, args))
    with node(redis_pubsub, args.payload) as (url, pid):
        results.append(await measure("redis, 1 node", [url], [pid], redis_pid, args))
    with node(redis_pubsub, args.payload) as (url_a, pid_a), node(redis_pubsub, args.payload) as (url_b, pid_b):
        results.append(await measure("redis, 2 nodes", [url_a, url_b], [pid_a, pid_b], redis_pid, args))
    return results, joins


def report(results: list[Result], joins: dict[str, list[float]], args: argparse.Namespace) -> None:
    _, redis_version = redis_server_pid(args.redis)
    print(
        f"socketapi fan-out: {args.subscribers} subscribers; {args.rounds} bursts of {args.burst} messages; "
        f"{args.paced} paced messages; {args.payload} B padding"
    )
    print(
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"Redis {redis_version}; clients, nodes and Redis share this machine"
    )
    print()
    print(f"{'setup':<16}{'deliveries/s':>14}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'CPU us/delivery':>17}")
    for r in results:
        print(
            f"{r.name:<16}{r.deliveries_per_s:>14,.0f}{r.p50:>9.1f}{r.p90:>9.1f}{r.p99:>9.1f}"
            f"{r.cpu_us_per_delivery:>17.2f}"
        )
    base = results[0]
    print()
    print(f"ratios against {base.name!r} (throughput: higher is better; latency: lower is better)")
    for r in results[1:]:
        print(
            f"  {r.name:<14} throughput x{r.deliveries_per_s / base.deliveries_per_s:.2f}, "
            f"latency p50 x{r.p50 / base.p50:.2f}, p90 x{r.p90 / base.p90:.2f}, p99 x{r.p99 / base.p99:.2f}"
        )
    print("deliveries/s: median of the bursts; CPU us/delivery: node(s) plus Redis during the bursts, per frame.")
    print()
    print(f"first subscriber of a topic, waiting in Hub.subscribe ({args.topics} new topics, in this process):")
    for name, waits in joins.items():
        print(f"  {name:<7} p50 {statistics.median(waits):.3f} ms, p99 {statistics.quantiles(waits, n=100)[98]:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=200, help="messages per burst")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per setup")
    parser.add_argument("--paced", type=int, default=200, help="messages sent one at a time")
    parser.add_argument("--payload", type=int, default=64, help="padding bytes in each message")
    parser.add_argument("--topics", type=int, default=500, help="new topics subscribed to for the join cost")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL (default: $REDIS_URL or local)")
    args = parser.parse_args()
    results, joins = asyncio.run(run(args))
    report(results, joins, args)


if __name__ == "__main__":
    main()
