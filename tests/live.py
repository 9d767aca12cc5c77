"""A real uvicorn serving an app object of the test's own, in this process, on a loopback port.

The server runs in a thread of its own, so the test drives it with blocking clients. Unlike
``tests.support.serve`` (a subprocess), the app's state can be read directly, and the code
under test runs in this process, where a mutation-testing run can see which test exercised it.
A small ``sndbuf`` makes the server's writes to a client that does not keep up wait after a few
KiB, whatever the host's TCP autotuning would allow: the condition the send-queue limits are for.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class LiveServer:
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"


@contextlib.contextmanager
def live(app: Any, *, sndbuf: int | None = None, timeout: float = 10.0) -> Iterator[LiveServer]:
    """Serve ``app`` on 127.0.0.1 until the block ends (bounded start and stop)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:  # accepted connections inherit it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, loop="asyncio", log_level="warning", ws_per_message_deflate=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), "uvicorn to start", timeout)
        if not server.started:
            raise RuntimeError("uvicorn exited before it started serving")
        yield LiveServer(port, server)
    finally:
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        sock.close()


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


class RawSocket:
    """A WebSocket client on a bare TCP socket with a small receive buffer; it reads only when told to.

    It offers no extension (no compression), so the bytes on the wire are the frames' own.
    """

    def __init__(self, port: int, *, rcvbuf: int = 4096, timeout: float = 10.0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        self._buffer = bytearray()

    def send(self, frame: dict[str, Any]) -> None:
        payload = json.dumps(frame).encode()
        mask = os.urandom(4)
        header = bytearray([0x81])
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(header) + mask + masked)

    def frames(self, timeout: float = 20.0) -> Iterator[tuple[int, bytes]]:
        """(opcode, payload) of each frame as it arrives; ends after a close frame or when the peer goes."""
        self.sock.settimeout(timeout)
        buffer = self._buffer  # what was read but not yet taken (kept between calls)
        while True:
            while len(buffer) >= 2:
                opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
                if length == 126:
                    length, start = int.from_bytes(buffer[2:4], "big"), 4
                elif length == 127:
                    length, start = int.from_bytes(buffer[2:10], "big"), 10
                if start + length > len(buffer):
                    break
                payload = bytes(buffer[start : start + length])
                del buffer[: start + length]  # cheap: CPython moves the start of a bytearray
                yield opcode, payload
                if opcode == 0x8:
                    return
            try:
                chunk = self.sock.recv(262144)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk

    def drain(self, until: bytes, timeout: float = 30.0) -> None:
        """Read as fast as the socket gives, without parsing, until ``until`` arrives or the server closes.

        What was read is kept: :meth:`frames` and :meth:`receive` return it afterwards. This is
        a client that keeps up: its reads cost a system call per chunk, not Python per frame.
        """
        self.sock.settimeout(timeout)
        buffer, tail = self._buffer, len(until) + 64
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            recent = buffer[-(len(chunk) + tail) :]
            if until in recent or (b"\x88" in recent and _closes(buffer)):
                return

    def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        for opcode, payload in self.frames(timeout):
            if opcode == 0x1:
                frame: dict[str, Any] = json.loads(payload)
                return frame
            if opcode == 0x8:
                raise ConnectionError(f"closed with {int.from_bytes(payload[:2], 'big')}")
        raise ConnectionError("the server went away")

    def read_until_closed(self, timeout: float = 20.0) -> tuple[list[bytes], int | None]:
        """Every text frame until the server's close frame: (texts, close code or None if it just went)."""
        texts: list[bytes] = []
        for opcode, payload in self.frames(timeout):
            if opcode == 0x1:
                texts.append(payload)
            elif opcode == 0x8:
                return texts, int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        return texts, None

    def close(self) -> None:
        self.sock.close()


def _closes(buffer: bytearray) -> bool:
    """Whether the frames in ``buffer`` end with a close frame (walks the frame headers)."""
    i = 0
    while i + 2 <= len(buffer):
        opcode, length, start = buffer[i] & 0x0F, buffer[i + 1] & 0x7F, i + 2
        if length == 126:
            length, start = int.from_bytes(buffer[i + 2 : i + 4], "big"), i + 4
        elif length == 127:
            length, start = int.from_bytes(buffer[i + 2 : i + 10], "big"), i + 10
        if start + length > len(buffer):
            return False
        if opcode == 0x8:
            return True
        i = start + length
    return False
