"""Redis for the tests: whether one is reachable, and private ``redis-server`` processes.

Tests that need Redis use the ``redis_url`` fixture. Without a reachable Redis they are
skipped with the reason, except under CI (``tests/ci.py``): there a missing Redis fails them loudly.
``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) says where to look.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import redis

from tests.ci import unavailable
from tests.support import free_port, stop

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def ping(url: str, timeout: float = 1.0) -> str | None:
    """``None`` if Redis answers at ``url``, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def wait_until(condition: object, what: str, timeout: float = 10.0) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def numsub(client: redis.Redis, channel: str | bytes) -> int:
    ((_, count),) = client.pubsub_numsub(channel)
    return int(count)


class RedisServer:
    """A private ``redis-server`` on a loopback port: no persistence, stopped and restarted by PID."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            unavailable("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while (reason := ping(self.url, timeout=0.5)) is not None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start: {reason}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop(process, timeout)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def eventually(condition: object, what: str, within: float = 10.0) -> None:
    """``wait_until`` for async tests: polls without blocking the event loop."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)
