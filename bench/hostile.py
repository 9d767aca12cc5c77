#!/usr/bin/env python3
"""What a hostile client can do to a socketapi server: the figures of issue 8, before and after.

    python bench/hostile.py [--root PATH] [--only calls,nan,...] [--calls 50000]

Each scenario starts a fresh ``uvicorn bench.apps_hostile:app`` on 127.0.0.1 from ``--root``
(a checkout of the revision to measure; default: this repository), attacks it from this
process, prints what it saw, and stops it by its PID. Every loop is bounded by count and time.
Figures are single runs on a shared machine: compare revisions measured in the same sitting.

Scenarios:
  calls       one client sends N calls of a 5 s action and never reads: peak tasks, peak RSS
              growth, and a bystander's ping round trips (p99) meanwhile
  fat_actions 256 action frames of 512 KiB from one client that never reads
  fat_events  the same 256 frames as events into a joined channel whose handler is slow
  non_reader  a client joins 100 channels and stops reading; broadcasts overflow its queue:
              how long until its subscriptions are gone, leave hooks, its later frame executed?
  nan         NaN / Infinity / 1e999999 as parameters and in a broadcast: is every answer JSON?
  amplify     a 900 KiB action name (without and with ref), a 900 KiB list as type: answer sizes
  listener    idle_timeout=2: a client that only listens to broadcasts for 5 s: still connected?
  dead_peer   a client that stops answering (no FIN, no pongs) under uvicorn pings every 1 s:
              seconds until the server released it
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Server:
    def __init__(self, root: Path, limits: dict[str, Any], args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.leave_log = Path(tempfile.mkstemp(prefix="hostile-leave-")[1])
        env = {
            **os.environ,
            "PYTHONPATH": f"{root}{os.pathsep}{REPO}",
            "HOSTILE_LIMITS": json.dumps(limits),
            "HOSTILE_LEAVE_LOG": str(self.leave_log),
        }
        cmd = [sys.executable, "-m", "uvicorn", "bench.apps_hostile:app", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--log-level", "critical", *args]
        # cwd is the measured checkout: `python -m` puts it first on sys.path, so its socketapi is imported.
        self.proc = subprocess.Popen(cmd, cwd=root, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("uvicorn did not start")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.leave_log.unlink(missing_ok=True)

    def leaves(self) -> list[str]:
        return self.leave_log.read_text().splitlines()


@contextlib.contextmanager
def server(root: Path, limits: dict[str, Any] | None = None, args: tuple[str, ...] = ()) -> Iterator[Server]:
    s = Server(root, limits or {}, args)
    try:
        yield s
    finally:
        s.stop()


class Raw:
    """A bare WebSocket client on a socket with a small receive buffer: it reads only when asked."""

    def __init__(self, port: int, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        self.buffer = b""

    def send(self, frame: dict[str, Any] | str) -> None:
        payload = (frame if isinstance(frame, str) else json.dumps(frame)).encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(bytes(header) + b"\0\0\0\0" + payload)  # a zero mask: the payload as is

    def recv(self, timeout: float = 10) -> tuple[int, bytes]:
        """The next frame: (opcode, payload)."""
        self.sock.settimeout(timeout)
        while True:
            data = self.buffer
            if len(data) >= 2:
                length, start = data[1] & 0x7F, 2
                if length == 126:
                    length, start = int.from_bytes(data[2:4], "big"), 4
                elif length == 127:
                    length, start = int.from_bytes(data[2:10], "big"), 10
                if len(data) >= start + length:
                    self.buffer = data[start + length :]
                    return data[0] & 0x0F, data[start : start + length]
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


class Client:
    """A normal, reading client (the websockets library)."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=10))

    def request(self, frame: dict[str, Any], timeout: float = 10) -> Any:
        self.ws.send(json.dumps({**frame, "ref": "r"}))
        deadline = time.monotonic() + timeout
        while True:
            answer = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if answer.get("ref") == "r":
                return answer

    def call(self, action: str, **data: Any) -> Any:
        return self.request({"type": "action", "channel": action, "data": data}).get("data")

    def close(self) -> None:
        self._stack.close()


def strict_json(text: str | bytes) -> bool:
    def reject(constant: str) -> Any:
        raise ValueError(constant)

    try:
        json.loads(text, parse_constant=reject)
    except ValueError:
        return False
    return True


class Watch:
    """Samples the server's RSS and a bystander's ping round trips while an attack runs."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.base = rss_kib(srv.proc.pid)
        self.peak = self.base
        self.rtts: list[float] = []
        self.stop = threading.Event()
        self.bystander = Client(srv.url)
        self.monitor = Client(srv.url)
        self.peak_tasks = 0
        self.threads = [threading.Thread(target=f) for f in (self._rss, self._tasks, self._ping)]
        for t in self.threads:
            t.start()

    def _rss(self) -> None:
        while not self.stop.wait(0.05):
            with contextlib.suppress(FileNotFoundError):
                self.peak = max(self.peak, rss_kib(self.srv.proc.pid))

    def _tasks(self) -> None:
        while not self.stop.wait(0.2):
            with contextlib.suppress(Exception):
                self.peak_tasks = max(self.peak_tasks, self.monitor.call("stats")["tasks"])

    def _ping(self) -> None:
        while not self.stop.wait(0.02):
            t = time.perf_counter()
            try:
                self.bystander.request({"type": "ping"}, timeout=5)
            except Exception:
                self.rtts.append(5.0)
                continue
            self.rtts.append(time.perf_counter() - t)

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        for t in self.threads:
            t.join(10)
        rtts = sorted(self.rtts)
        p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))] if rtts else float("nan")
        self.bystander.close()
        self.monitor.close()
        return {
            "peak_rss_growth_mb": round((self.peak - self.base) / 1024, 1),
            "peak_tasks": self.peak_tasks,
            "bystander_ping_p99_ms": round(p99 * 1000, 1),
            "bystander_pings": len(rtts),
        }


def flood(root: Path, frames: Callable[[Raw], int], seconds: float = 10.0) -> dict[str, Any]:
    with server(root) as srv:
        watch = Watch(srv)
        attacker = Raw(srv.port)
        sent = [0]
        send = attacker.send

        def counted(frame: dict[str, Any] | str) -> None:
            send(frame)
            sent[0] += 1

        attacker.send = counted  # type: ignore[method-assign]

        def attack() -> None:
            attacker.sock.settimeout(seconds)
            with contextlib.suppress(OSError):
                frames(attacker)

        thread = threading.Thread(target=attack)
        thread.start()
        thread.join(seconds + 1)
        time.sleep(3.0)  # the server works through what it accepted
        attacker.close()
        result = watch.finish()
        thread.join(5)
        return {"frames_accepted_by_tcp": sent[0], **result}


def scenario_calls(root: Path, n: int) -> dict[str, Any]:
    frame = json.dumps({"type": "action", "channel": "sleep", "data": {"seconds": 5}})

    def frames(raw: Raw) -> int:
        for _ in range(n):
            raw.send(frame)
        return n

    return flood(root, frames)


def scenario_fat_actions(root: Path) -> dict[str, Any]:
    frame = json.dumps({"type": "action", "channel": "sleep", "data": {"seconds": 5, "pad": "x" * (512 * 1024 - 80)}})

    def frames(raw: Raw) -> int:
        for _ in range(256):
            raw.send(frame)
        return 256

    return flood(root, frames)


def scenario_fat_events(root: Path) -> dict[str, Any]:
    frame = json.dumps(
        {
            "type": "event",
            "channel": "room:fat",
            "event": "work",
            "data": {"seconds": 5, "pad": "x" * (512 * 1024 - 100)},
        }
    )

    def frames(raw: Raw) -> int:
        raw.send({"type": "subscribe", "channel": "room:fat"})
        raw.recv()
        for _ in range(256):
            raw.send(frame)
        return 256

    return flood(root, frames)


def scenario_non_reader(root: Path, limits: dict[str, Any] | None = None) -> dict[str, Any]:
    with server(root, limits) as srv:
        other = Client(srv.url)
        base = other.call("stats")
        raw = Raw(srv.port)
        for i in range(100):
            raw.send({"type": "subscribe", "channel": f"room:{i}"})
        for _ in range(100):
            raw.recv()
        for i in range(100):  # 100 x 10 frames of 4 KB: far beyond the 256-frame / 1 MiB queue
            other.call("shout", topic=f"room:{i}", count=10, size=4000)
        decided = time.monotonic()
        raw.send({"type": "action", "channel": "mark", "data": {"name": "after-close"}})
        released = None
        while time.monotonic() - decided < 15:
            stats = other.call("stats")
            if stats["subscriptions"] == 0 and released is None:
                released = time.monotonic() - decided
            if released is not None and stats["sockets"] <= base["sockets"]:
                break
            time.sleep(0.1)
        stats = other.call("stats")
        leaves = srv.leaves()
        raw.close()
        other.close()
        return {
            "released_after_s": round(released, 2) if released is not None else "not within 15 s",
            "subscriptions_left": stats["subscriptions"],
            "sockets_left": stats["sockets"] - base["sockets"],
            "leave_hooks_run": len(leaves),
            "leave_reasons": sorted({line.split()[1] for line in leaves}),
            "fds_held": stats["fds"] - base["fds"],
            "frame_after_close_executed": "after-close" in stats["marks"],
        }


def scenario_nan(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with server(root) as srv:
        c = Client(srv.url)
        for literal in ("NaN", "Infinity", "-Infinity", "1e999999"):
            for action, key in (("number", "x"), ("echo", "value")):
                c.ws.send(f'{{"type":"action","channel":"{action}","data":{{"{key}":{literal}}},"ref":"r"}}')
                text = c.ws.recv(timeout=10)
                out[f"{action}({literal})"] = text if not strict_json(text) else "JSON: " + text[:90]
        c.ws.send('{"type":"action","channel":"difference","data":{"a":1e999999,"b":1e999999},"ref":"r"}')
        text = c.ws.recv(timeout=10)
        out["difference(inf, inf), a NaN result"] = text if not strict_json(text) else "JSON: " + text[:90]
        listener = Client(srv.url)
        listener.request({"type": "subscribe", "channel": "room:nan"})
        for literal in ("NaN", "1e999999"):
            frame = '{"type":"action","channel":"shout","data":{"topic":"room:nan","value":VALUE},"ref":"r"}'
            c.ws.send(frame.replace("VALUE", literal))
            c.ws.recv(timeout=10)
            try:
                text = listener.ws.recv(timeout=2)
            except TimeoutError:
                text = "(no broadcast: the frame was refused)"
            out[f"broadcast({literal})"] = text if not strict_json(text) else "JSON: " + text[:90]
        c.close()
        listener.close()
    return out


def scenario_amplify(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with server(root) as srv:
        c = Client(srv.url)
        name = "n" * (900 * 1024)
        for label, frame in (
            ("name_900KiB", {"type": "action", "channel": name}),
            ("name_900KiB_with_ref", {"type": "action", "channel": name, "ref": 1}),
            ("type_list_900KiB_with_ref", {"type": [1e15] * 50_000, "channel": "x", "ref": 1}),
        ):
            text = json.dumps(frame)
            c.ws.send(text)
            answer = c.ws.recv(timeout=10)
            out[label] = f"{len(text) // 1024} KiB in, {len(answer) / 1024:.1f} KiB out"
        c.close()
    return out


def scenario_listener(root: Path) -> dict[str, Any]:
    with server(root, {"idle_timeout": 2}) as srv:
        listener = Client(srv.url)
        listener.request({"type": "subscribe", "channel": "room:l"})
        speaker = Client(srv.url)
        received, closed = 0, None
        start = time.monotonic()
        while time.monotonic() - start < 5:
            speaker.call("shout", topic="room:l")
            try:
                listener.ws.recv(timeout=0.5)
                received += 1
            except TimeoutError:
                pass
            except Exception as exc:
                closed = getattr(getattr(exc, "rcvd", None), "code", "closed")
                break
            time.sleep(0.25)
        listener.close()
        speaker.close()
    return {"broadcasts_received_in_5s": received, "closed_with": closed or "still connected"}


def scenario_dead_peer(root: Path) -> dict[str, Any]:
    with server(root, {}, ("--ws-ping-interval", "1", "--ws-ping-timeout", "1")) as srv:
        other = Client(srv.url)
        base = other.call("stats")["sockets"]
        raw = Raw(srv.port, rcvbuf=1 << 16)
        raw.send({"type": "subscribe", "channel": "room:dead"})
        raw.recv()
        start = time.monotonic()  # from now on it neither reads nor answers pings, and sends no FIN
        released = None
        while time.monotonic() - start < 30:
            if other.call("stats")["sockets"] <= base:
                released = time.monotonic() - start
                break
            time.sleep(0.1)
        leaves = srv.leaves()
        raw.close()
        other.close()
    return {
        "released_after_s": round(released, 2) if released is not None else "not within 30 s",
        "leave_reasons": [line.split()[1] for line in leaves],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO, help="the checkout whose socketapi is measured")
    parser.add_argument("--only", help="comma-separated scenarios")
    parser.add_argument("--calls", type=int, default=50_000, help="calls sent in the calls scenario")
    args = parser.parse_args()
    root = args.root.resolve()
    scenarios: dict[str, Callable[[], dict[str, Any]]] = {
        "calls": lambda: scenario_calls(root, args.calls),
        "fat_actions": lambda: scenario_fat_actions(root),
        "fat_events": lambda: scenario_fat_events(root),
        "non_reader": lambda: scenario_non_reader(root),
        "nan": lambda: scenario_nan(root),
        "amplify": lambda: scenario_amplify(root),
        "listener": lambda: scenario_listener(root),
        "dead_peer": lambda: scenario_dead_peer(root),
    }
    chosen = args.only.split(",") if args.only else list(scenarios)
    print(f"socketapi from {root} (Python {sys.version.split()[0]}); one run each, on a shared machine")
    results = {}
    for name in chosen:
        t = time.monotonic()
        try:
            results[name] = scenarios[name]()
        except Exception as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"\n## {name} ({time.monotonic() - t:.0f} s)")
        for key, value in results[name].items():
            print(f"  {key}: {value}")
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
