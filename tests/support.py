"""Helpers for end-to-end tests: a real uvicorn on loopback, started and stopped by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARDENED_APP = "tests.apps.hardened:app"

ROOT = Path(__file__).resolve().parent.parent
TRANSPORTS = ("asgi", "direct")  # the end-to-end suites run on both (tests/conftest.py's `transport` fixture)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        return self.process.pid


def _wait_listening(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port} within {timeout}s")


@contextlib.contextmanager
def serve(
    app: str,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 20,
    log: Path | None = None,
    args: tuple[str, ...] = (),
    sock: socket.socket | None = None,
    transport: str = "asgi",
    cli: bool = False,
) -> Iterator[Server]:
    """Run ``app`` on 127.0.0.1 until the block ends; stops only the process it started.

    ``transport="asgi"`` runs ``uvicorn app``; ``"direct"`` runs ``socketapi run app --transport
    direct`` (``args`` go to either command). With ``log``, the server's output (socketapi logs at
    debug level) goes to that file. With ``sock`` (a listening socket), the server serves on it
    (``--fd``) instead of binding its own. With ``cli``, the ASGI transport is served by
    ``socketapi run`` rather than plain uvicorn.
    """
    if sock is not None:
        port = sock.getsockname()[1]
        where = ["--fd", str(sock.fileno())]
    else:
        port = port or free_port()
        where = ["--host", "127.0.0.1", "--port", str(port)]
    if transport == "direct":
        command = [sys.executable, "-m", "socketapi", "run", app, "--transport", "direct", *where, *args]
    elif cli:
        command = [sys.executable, "-m", "socketapi", "run", app, *where, *args]
    else:
        command = [sys.executable, "-m", "uvicorn", app, *where, *args]
    output = open(log, "wb") if log else None  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [*command, "--log-level", "debug" if log else "warning"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        pass_fds=(sock.fileno(),) if sock is not None else (),
    )
    try:
        _wait_listening(process, port, timeout)
        yield Server(process, port)
    finally:
        stop(process)
        if output:
            output.close()


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM the process (uvicorn's graceful shutdown), then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class RawClient:
    """A bare-socket WebSocket client that can stop reading: a slow consumer, for real.

    Its receive buffer is tiny, so once it stops reading the server's writes block after a few KiB.
    """

    def __init__(self, port: int, *, rcvbuf: int = 4096) -> None:
        import base64

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        if not response.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(response.decode(errors="replace"))

    def send_text(self, text: str) -> None:
        self.send_frame(0x1, text.encode())

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """One masked frame, as a client sends it; ``fin=False`` starts or continues a fragmented message."""
        mask = os.urandom(4)
        header = bytearray([(0x80 if fin else 0) | opcode])
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
        key = (mask * (len(payload) // 4 + 1))[: len(payload)]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(len(payload), "big")
        self.sock.sendall(bytes(header) + mask + masked)

    def read_until_closed(self, timeout: float = 20, until: bytes | None = None) -> tuple[list[bytes], int | None]:
        """Read frames until the server closes (or a text frame contains ``until``): (texts, close code)."""
        self.sock.settimeout(timeout)
        data = b""
        texts: list[bytes] = []
        i = 0
        while True:
            while True:  # parse every complete frame in data[i:]
                if i + 2 > len(data):
                    break
                opcode, length, start = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
                if length == 126:
                    length, start = int.from_bytes(data[start : start + 2], "big"), start + 2
                elif length == 127:
                    length, start = int.from_bytes(data[start : start + 8], "big"), start + 8
                if start + length > len(data):
                    break
                payload, i = data[start : start + length], start + length
                if opcode == 0x8:
                    return texts, int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                if opcode == 0x1:
                    texts.append(payload)
                    if until is not None and until in payload:
                        return texts, None
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return texts, None
            if not chunk:
                return texts, None
            data += chunk

    def close(self) -> None:
        self.sock.close()


class Client:
    """A real WebSocket client (the ``websockets`` library) speaking JSON frames, with bounded waits."""

    def __init__(self, url: str, timeout: float = 5, **kwargs: Any) -> None:
        from websockets.sync.client import connect

        self.timeout = timeout
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(url, open_timeout=timeout, **kwargs))

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        self.ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    def recv(self) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(self.ws.recv(timeout=self.timeout))
        return frame

    def call(self, action: str, data: dict[str, Any] | None = None) -> Any:
        self.send({"type": "action", "channel": action, "data": data or {}, "ref": action})
        while True:
            frame = self.recv()
            if frame.get("ref") == action:
                if frame["type"] == "error":
                    raise AssertionError(frame)
                return frame.get("data")

    def close(self) -> None:
        self._stack.close()


# -- servers of the hardened test app, and clients, as the end-to-end limit tests use them --------


class Servers:
    def __init__(self, tmp_path: Path, transport: str = "asgi") -> None:
        self.tmp_path = tmp_path
        self.transport = transport
        self._open: list[Any] = []
        self.logs: dict[int, Path] = {}

    def start(
        self,
        limits: dict[str, Any] | None = None,
        *,
        args: tuple[str, ...] = (),
        sock: socket.socket | None = None,
        cli: bool = False,
        **env: str,
    ) -> Server:
        log = self.tmp_path / f"server{len(self._open)}.log"
        env = {"SOCKETAPI_TEST_LIMITS": json.dumps(limits or {}), **env}
        cm = serve(HARDENED_APP, env=env, log=log, args=args, sock=sock, transport=self.transport, cli=cli)
        server = cm.__enter__()
        self._open.append(cm)
        self.logs[server.pid] = log
        return server

    def close(self) -> None:
        for cm in reversed(self._open):
            cm.__exit__(None, None, None)


def connect(clients: list[Client], server: Server, **kwargs: Any) -> Client:
    clients.append(Client(server.url, **kwargs))
    return clients[-1]


def bystander(clients: list[Client], server: Server) -> Client:
    b = connect(clients, server)
    b.send({"type": "subscribe", "channel": "chat"})
    assert b.recv() == {"type": "subscribed", "channel": "chat"}
    return b


def assert_still_served(clients: list[Client], server: Server, b: Client, text: str = "still here") -> None:
    connect(clients, server).call("say", {"message": text})
    assert b.recv() == {"type": "data", "channel": "chat", "data": {"message": text}}


def read_until_closed(client: Client) -> tuple[list[dict[str, Any]], int | None]:
    from websockets.exceptions import ConnectionClosed

    frames: list[dict[str, Any]] = []
    try:
        while True:
            frames.append(client.recv())
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None


def close_code(client: Client) -> int | None:
    return read_until_closed(client)[1]
