"""The load generator: drives one server through one scenario and prints one JSON result line.

It runs in the benchmark's virtualenv (picows, uvloop) and is started by ``run.py`` pinned to
its own core. Every client socket is a picows connection whose frames are handled in a plain
callback, and the next request of a closed loop is written from that callback, so a reply costs
the client a few microseconds and no task switch: the server, not this process, is meant to be
the bottleneck. The process reports its own CPU use, and the server's, over the measured window.

Two dialects speak the same three endpoints: ``socketapi`` (the JSON protocol of socketapi,
which the raw Starlette baseline also serves) and ``socketio`` (Engine.IO v4 / Socket.IO v5
frames written directly on a WebSocket, without python-socketio's client). A third, ``phoenix``,
has socketapi's subscribers speak the Phoenix Channels format (V2 JSON, what phoenix.js speaks)
while the publisher keeps socketapi's protocol: the fan-out of one app measured in either format.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

perf_counter = time.perf_counter
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONNECT_CONCURRENCY = 64
SETUP_TIMEOUT = 60.0
ROUND_TIMEOUT = 30.0

# What a server frame means to a scenario.
REPLY, SUBSCRIBED, DELIVERY, ERROR, OTHER = "reply", "subscribed", "delivery", "error", "other"
Event = tuple[str, Any]


class BenchError(Exception):
    """The server misbehaved (error frame, lost delivery, closed socket) and the run is void."""


# --------------------------------------------------------------------------- dialects


class Dialect:
    """How the three endpoints are spelled on the wire, and how a server frame is read."""

    path = "/"
    publisher: type[Dialect] | None = None  # the dialect of the publishing socket, when not this one
    keepalive_ping = b""  # a text frame the server sends as a heartbeat, answered with keepalive_pong
    keepalive_pong = b""

    def handshake(self) -> list[bytes | None]:
        """Frames to exchange once connected: bytes are sent, None waits for one server frame."""
        return []

    def action(self, seq: int) -> bytes:
        raise NotImplementedError

    def subscribe(self, seq: int) -> bytes:
        raise NotImplementedError

    def publish(self, seq: int, message: str) -> bytes:
        raise NotImplementedError

    def parse(self, payload: bytes) -> Event:
        raise NotImplementedError


class SocketAPIDialect(Dialect):
    """socketapi's protocol: one JSON object per text frame."""

    ACTION = json.dumps({"type": "action", "channel": "add_numbers", "data": {"a": 5, "b": 3}}).encode()
    SUBSCRIBE = json.dumps({"type": "subscribe", "channel": "chat"}).encode()

    def action(self, seq: int) -> bytes:
        return self.ACTION

    def subscribe(self, seq: int) -> bytes:
        return self.SUBSCRIBE

    def publish(self, seq: int, message: str) -> bytes:
        return json.dumps({"type": "action", "channel": "send_message", "data": {"message": message}}).encode()

    def parse(self, payload: bytes) -> Event:
        frame = json.loads(payload)
        kind = frame.get("type")
        if kind == "action":
            return REPLY, frame.get("data")
        if kind == "data":
            return DELIVERY, frame.get("data")
        if kind == "subscribed":
            return SUBSCRIBED, None
        if kind == "error":
            return ERROR, frame.get("message")
        return OTHER, frame


class SocketIODialect(Dialect):
    """Socket.IO v5 over Engine.IO v4, websocket transport from the start (no polling upgrade).

    ``42<id>[event, arg]`` is an event with an acknowledgement id, ``43<id>[result]`` its ack,
    ``42[event, arg]`` an event without ack; ``2``/``3`` are Engine.IO's ping and pong.
    """

    path = "/socket.io/?EIO=4&transport=websocket"
    keepalive_ping = b"2"
    keepalive_pong = b"3"

    def handshake(self) -> list[bytes | None]:
        return [None, b"40", None]  # Engine.IO open packet; connect to namespace "/"; its confirmation

    def action(self, seq: int) -> bytes:
        return b'42%d["add_numbers",{"a":5,"b":3}]' % seq

    def subscribe(self, seq: int) -> bytes:
        return b'42%d["subscribe","chat"]' % seq

    def publish(self, seq: int, message: str) -> bytes:
        return b"42%d" % seq + json.dumps(["send_message", {"message": message}]).encode()

    def parse(self, payload: bytes) -> Event:
        if payload.startswith(b"43"):
            result = json.loads(payload[payload.index(b"[") :])
            value = result[0] if result else None
            if value == "subscribed":
                return SUBSCRIBED, None
            if isinstance(value, dict) and "error" in value:
                return ERROR, value["error"]
            return REPLY, value
        if payload.startswith(b"42"):
            name, *args = json.loads(payload[2:])
            return (DELIVERY, args[0] if args else None) if name == "chat" else (OTHER, name)
        if payload.startswith(b"44"):
            return ERROR, payload.decode()
        return OTHER, payload


class PhoenixDialect(Dialect):
    """Phoenix Channels V2 JSON, ``[join_ref, ref, topic, event, payload]``, at socketapi's ``/socket/websocket``.

    Subscribers only: an action has no Phoenix frame, so the publisher calls ``send_message``
    over socketapi's own protocol, on the same app, exactly as in the ``socketapi`` runs.
    """

    path = "/socket/websocket?vsn=2.0.0"
    publisher = SocketAPIDialect

    def subscribe(self, seq: int) -> bytes:
        return b'["%d","%d","chat","phx_join",{}]' % (seq, seq)

    def parse(self, payload: bytes) -> Event:
        _join_ref, _ref, _topic, event, body = json.loads(payload)
        if event == "phx_reply":
            if body.get("status") == "ok":
                return SUBSCRIBED, None  # a subscriber's only request is its join
            return ERROR, body.get("response")
        if event == "data":
            return DELIVERY, body
        if event == "error":
            return ERROR, body
        return OTHER, event


DIALECTS: dict[str, type[Dialect]] = {
    "socketapi": SocketAPIDialect,
    "socketio": SocketIODialect,
    "phoenix": PhoenixDialect,
}


# --------------------------------------------------------------------------- client sockets


class Client(WSListener):
    """One WebSocket. Frames go to ``handler`` when a scenario sets one, else to ``recv()``."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__()
        self.dialect = dialect
        self.transport: WSTransport | None = None
        self.handler: Callable[[bytes], None] | None = None
        self.inbox: collections.deque[bytes] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed: str | None = None
        self.seq = 0
        self.sent_at = 0.0
        self.last_tag = ""

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            if frame.msg_type == WSMsgType.CLOSE:
                self.closed = f"server closed the socket ({frame.get_close_code()})"
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            return
        payload = frame.get_payload_as_bytes()
        if payload == self.dialect.keepalive_ping and payload:
            transport.send(WSMsgType.TEXT, self.dialect.keepalive_pong)
        elif self.handler is not None:
            self.handler(payload)
        else:
            self.inbox.append(payload)
            self._wake()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = self.closed or "connection lost"
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, payload)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def recv(self) -> bytes:
        while not self.inbox:
            if self.closed:
                raise BenchError(self.closed)
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.inbox.popleft()

    async def recv_event(self, wanted: str) -> int:
        """Wait for a frame of kind ``wanted``; return how many frames of other kinds came first."""
        skipped = 0
        while True:
            kind, value = self.dialect.parse(await self.recv())
            if kind == wanted:
                return skipped
            if kind == ERROR:
                raise BenchError(f"server error frame: {value}")
            skipped += 1


async def connect(url: str, dialect: Dialect) -> Client:
    _, client = await ws_connect(lambda: Client(dialect), url, use_aiofastnet=False)
    assert isinstance(client, Client)
    for step in dialect.handshake():
        if step is None:
            await client.recv()
        else:
            client.send(step)
    return client


async def connect_many(
    url: str, dialect: Dialect, count: int, setup: Callable[[Client], Awaitable[int]]
) -> tuple[list[Client], int]:
    """Open ``count`` sockets, a bounded number at a time, each set up by ``setup``; return them and setup()'s total."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: list[Client] = []

    async def one() -> int:
        async with gate:
            client = await connect(url, dialect)
            clients.append(client)
            return await setup(client)

    totals = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), SETUP_TIMEOUT + count / 50)
    return clients, sum(totals)


async def subscribe(client: Client) -> int:
    """Subscribe to chat; return how many other frames came before ``subscribed``."""
    client.send(client.dialect.subscribe(client.next_seq()))
    return await client.recv_event(SUBSCRIBED)


async def no_setup(client: Client) -> int:
    return 0


# --------------------------------------------------------------------------- measurement


MARK_WINDOW = False  # --mark-window: say on stderr when the measured window starts and stops


@dataclass
class Window:
    """Between start() and stop(): wall time, CPU of this process and of the server, and how busy
    the server's core was in all (the difference is other work on that core: a noisy run)."""

    server_pid: int
    wall: float = 0.0
    own_cpu: float = 0.0
    server_cpu: float = 0.0
    server_core_busy: float = 0.0
    _start: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def _sample(self) -> tuple[float, float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (
            perf_counter(),
            usage.ru_utime + usage.ru_stime,
            process_cpu_seconds(self.server_pid),
            core_busy_seconds(min(os.sched_getaffinity(self.server_pid))),
        )

    def start(self) -> None:
        self._start = self._sample()
        if MARK_WINDOW:
            print("loadgen: window start", file=sys.stderr, flush=True)

    def elapsed(self) -> float:
        return perf_counter() - self._start[0]

    def stop(self) -> None:
        end = self._sample()
        if MARK_WINDOW:
            print("loadgen: window stop", file=sys.stderr, flush=True)
        self.wall = end[0] - self._start[0]
        self.own_cpu = (end[1] - self._start[1]) / self.wall
        self.server_cpu = (end[2] - self._start[2]) / self.wall
        self.server_core_busy = (end[3] - self._start[3]) / self.wall


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def core_busy_seconds(core: int) -> float:
    """Time the core spent on anything but idle and iowait, softirq included."""
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith(f"cpu{core} "):
                ticks = [int(value) for value in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
                return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
    raise BenchError(f"no line for cpu{core} in /proc/stat")


def server_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def p99(samples: array[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


@dataclass
class Result:
    scenario: str
    metric: str
    value: float
    window: Window
    p99_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(
            {
                "scenario": self.scenario,
                "metric": self.metric,
                "value": self.value,
                "p99_ms": self.p99_ms,
                "window_s": round(self.window.wall, 3),
                "loadgen_cpu": round(self.window.own_cpu, 3),
                "server_cpu": round(self.window.server_cpu, 3),
                "server_core_busy": round(self.window.server_core_busy, 3),
                **self.extra,
            }
        )


# --------------------------------------------------------------------------- scenarios


@dataclass
class Options:
    base: str  # ws://host:port
    url: str  # the base and the dialect's path
    dialect: Dialect
    server_pid: int
    duration: float
    warmup: float
    clients: int
    subscribers: int


async def connect_publisher(opts: Options) -> Client:
    """The socket that publishes (and, in idle_mem, warms up): in the publisher's dialect, if the dialect names one."""
    kind = opts.dialect.publisher
    dialect = kind() if kind is not None else opts.dialect
    return await connect(opts.base + dialect.path, dialect)


async def run_actions(opts: Options, scenario: str) -> Result:
    """``clients`` sockets, each calling add_numbers back to back for ``duration`` seconds."""
    clients, _ = await connect_many(opts.url, opts.dialect, opts.clients, no_setup)
    dialect = opts.dialect
    loop = asyncio.get_running_loop()
    latencies: array[float] = array("d")
    state = {"measuring": False, "stopping": False, "replies": 0, "idle": 0}
    all_idle = loop.create_future()
    failure: list[str] = []
    known_good = [b""]  # the last reply checked in full; the same bytes again need no decoding

    def make_handler(client: Client) -> Callable[[bytes], None]:
        def on_reply(payload: bytes) -> None:
            now = perf_counter()
            if payload != known_good[0]:
                kind, value = dialect.parse(payload)
                if kind == REPLY and value == 8:
                    known_good[0] = payload
                else:
                    failure.append(f"unexpected reply to add_numbers: {payload[:200]!r}")
            if state["measuring"] and not failure:
                state["replies"] += 1
                latencies.append(now - client.sent_at)
            if state["stopping"] or failure:
                state["idle"] += 1
                if state["idle"] == len(clients) and not all_idle.done():
                    all_idle.set_result(None)
                return
            client.sent_at = perf_counter()
            client.send(dialect.action(client.next_seq()))

        return on_reply

    for client in clients:
        client.handler = make_handler(client)
        client.sent_at = perf_counter()
        client.send(dialect.action(client.next_seq()))
    await asyncio.sleep(opts.warmup)
    window = Window(opts.server_pid)
    window.start()
    state["measuring"] = True
    await asyncio.sleep(opts.duration)
    state["measuring"] = False
    window.stop()
    state["stopping"] = True
    try:
        await asyncio.wait_for(all_idle, ROUND_TIMEOUT)
    except TimeoutError:
        closed = sum(1 for client in clients if client.closed)
        raise BenchError(f"replies missing after {ROUND_TIMEOUT:.0f} s; {closed} socket(s) closed") from None
    if failure:
        raise BenchError(failure[0])
    return Result(scenario, "replies/s", state["replies"] / window.wall, window, p99(latencies) * 1000)


class Fanout:
    """One publisher, ``subscribers`` sockets on chat; message k+1 goes out when all of k arrived."""

    def __init__(self, opts: Options, subscribers: list[Client], publisher: Client) -> None:
        self.opts = opts
        self.subscribers = subscribers
        self.publisher = publisher
        self.loop = asyncio.get_running_loop()
        self.tag = ""
        self.tag_bytes = b""
        self.remaining = 0
        self.ack_pending = False
        self.sent_at = 0.0
        self.last_delivery_at = 0.0
        self.done: asyncio.Future[float] = self.loop.create_future()
        # Frames to subscribers that were not the message in flight, such as a channel's initial data.
        self.strays = 0
        self.failure = ""
        for client in subscribers:
            self.strays += len(client.inbox)
            client.inbox.clear()
            client.handler = self._delivery_handler(client)
        publisher.handler = self._on_publisher_frame

    def _delivery_handler(self, client: Client) -> Callable[[bytes], None]:
        parse = self.opts.dialect.parse

        def on_frame(payload: bytes) -> None:
            # Tags are unique and only ever sent as the chat message, so finding '"m<k>"' in a frame
            # proves it is delivery k without decoding it: decoding would cost more than the server's send.
            if self.tag_bytes in payload:
                if client.last_tag == self.tag:
                    self.failure = f"subscriber got message {self.tag!r} twice"
                    return
                client.last_tag = self.tag
                self.remaining -= 1
                if self.remaining == 0:
                    self.last_delivery_at = perf_counter()
                    self._maybe_done()
                return
            kind, value = parse(payload)
            if kind == ERROR:
                self.failure = f"server error frame: {value}"
            else:
                self.strays += 1

        return on_frame

    def _on_publisher_frame(self, payload: bytes) -> None:
        kind, value = self.publisher.dialect.parse(payload)
        if kind == REPLY:
            self.ack_pending = False
            self._maybe_done()
        elif kind == ERROR:
            self.failure = f"server error frame on publish: {value}"

    def _maybe_done(self) -> None:
        if self.remaining == 0 and not self.ack_pending and not self.done.done():
            self.done.set_result(self.last_delivery_at - self.sent_at)

    async def round(self, number: int) -> float:
        """Publish one message and wait for every delivery and the ack; return publish->last delivery."""
        self.tag = f"m{number}"
        self.tag_bytes = b'"%s"' % self.tag.encode()
        self.remaining = len(self.subscribers)
        self.ack_pending = True
        self.done = self.loop.create_future()
        self.sent_at = perf_counter()
        self.publisher.send(self.publisher.dialect.publish(self.publisher.next_seq(), self.tag))
        try:
            return await asyncio.wait_for(self.done, ROUND_TIMEOUT)
        except TimeoutError:
            lost = [c.closed for c in self.subscribers if c.closed]
            raise BenchError(
                f"message {self.tag!r}: {self.remaining} of {len(self.subscribers)} deliveries missing"
                f" after {ROUND_TIMEOUT:.0f} s (ack {'missing' if self.ack_pending else 'received'},"
                f" {len(lost)} sockets closed) {self.failure}"
            ) from None


async def open_fanout(opts: Options) -> tuple[Fanout, int]:
    subscribers, initial = await connect_many(opts.url, opts.dialect, opts.subscribers, subscribe)
    publisher = await connect_publisher(opts)
    return Fanout(opts, subscribers, publisher), initial


async def run_fanout(opts: Options, scenario: str) -> Result:
    fanout, initial = await open_fanout(opts)
    started = perf_counter()
    number = 0
    while number < 3 or perf_counter() - started < opts.warmup:
        number += 1
        await fanout.round(number)
    window = Window(opts.server_pid)
    latencies: array[float] = array("d")
    window.start()
    while not latencies or window.elapsed() < opts.duration:
        number += 1
        latencies.append(await fanout.round(number))
    window.stop()
    if fanout.failure:
        raise BenchError(fanout.failure)
    deliveries = len(latencies) * opts.subscribers
    extra = {"rounds": len(latencies), "frames_before_subscribed": initial, "stray_frames": fanout.strays}
    return Result(scenario, "deliveries/s", deliveries / window.wall, window, p99(latencies) * 1000, extra)


async def run_idle_mem(opts: Options, scenario: str) -> Result:
    """Server RSS growth per idle socket subscribed to chat; one broadcast afterwards proves they are live."""
    warm = await connect_publisher(opts)  # pay one-off costs (imports, first allocations) before the baseline
    await subscribe(warm)
    warm.send(warm.dialect.action(warm.next_seq()))
    await warm.recv_event(REPLY)
    await asyncio.sleep(0.5)
    before = server_rss_kib(opts.server_pid)
    window = Window(opts.server_pid)
    window.start()
    subscribers, initial = await connect_many(opts.url, opts.dialect, opts.subscribers, subscribe)
    await asyncio.sleep(1.0)  # let the server finish whatever it does after the last subscribe
    after = server_rss_kib(opts.server_pid)
    window.stop()
    fanout = Fanout(opts, subscribers, warm)
    await fanout.round(1)
    per_connection = (after - before) / opts.subscribers
    extra = {
        "rss_before_kib": before,
        "rss_after_kib": after,
        "frames_before_subscribed": initial,
        "stray_frames": fanout.strays,
    }
    return Result(scenario, "KiB/conn", per_connection, window, None, extra)


SCENARIOS: dict[str, Callable[[Options, str], Coroutine[Any, Any, Result]]] = {
    "action": run_actions,
    "fanout": run_fanout,
    "idle_mem": run_idle_mem,
}


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dialect", choices=sorted(DIALECTS), required=True)
    parser.add_argument("--server-pid", type=int, required=True, help="read for CPU and RSS")
    parser.add_argument("--kind", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--name", required=True, help="the scenario name to report")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--mark-window", action="store_true", help="say on stderr as the window starts and stops")
    args = parser.parse_args()
    global MARK_WINDOW
    MARK_WINDOW = args.mark_window
    raise_fd_limit()
    dialect = DIALECTS[args.dialect]()
    base = f"ws://127.0.0.1:{args.port}"
    opts = Options(
        base=base,
        url=base + dialect.path,
        dialect=dialect,
        server_pid=args.server_pid,
        duration=args.duration,
        warmup=args.warmup,
        clients=args.clients,
        subscribers=args.subscribers,
    )
    try:
        result = uvloop.run(SCENARIOS[args.kind](opts, args.name))
    except (BenchError, OSError, TimeoutError) as exc:
        print(f"loadgen: {args.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(result.as_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
