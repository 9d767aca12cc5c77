"""Redis pub/sub between nodes: ``SocketAPI(pubsub="redis://host:6379")``.

Needs the optional extra (``pip install 'socketapi[redis]'``); this module is imported only
when a Redis URL or :class:`RedisBackend` is used.

Each node keeps two plain ``redis.asyncio`` connections:

- the *subscription* connection carries ``SUBSCRIBE``/``UNSUBSCRIBE`` for exactly the topics
  that have local subscribers. One task reads it: it resolves the confirmations that
  :meth:`RedisBackend.subscribe` waits for, queues messages for :meth:`RedisBackend.listen`,
  PINGs an idle connection, and when the connection breaks it reconnects with exponential
  backoff and subscribes again to every topic, logging how long the outage lasted;
- the *publishing* connection: :meth:`RedisBackend.publish` queues the message and returns
  (waiting only while ``max_pending`` messages are queued); one task writes the queue as
  pipelined ``PUBLISH`` batches, in publish order. ``disconnect`` sends what is still queued,
  so a script's last broadcasts leave before its event loop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from ..exceptions import BackendError, ImproperlyConfigured
from .base import PubSubBackend

logger = logging.getLogger("socketapi.pubsub")

DEFAULT_PREFIX = "socketapi:"

_FAILURES = (RedisError, OSError, BackendError)
_BATCH = 512
_FIRST_BACKOFF = 0.05
_FLUSH_TIMEOUT = 5.0

Waiter = asyncio.Future[None]


class RedisBackend(PubSubBackend):
    """Relays broadcasts to every node connected to the same Redis with the same ``prefix``.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` for TLS; query
            options are redis-py's (``?socket_connect_timeout=2``), plus ``prefix``.
        prefix: put before every topic to make its Redis channel name; defaults to the URL's
            ``prefix`` option, else ``"socketapi:"``. Pub/sub channels are global to a Redis
            server (the db number does not separate them), so applications or environments
            sharing one server need different prefixes.
        max_backoff: the longest pause, in seconds, between two attempts to reconnect.
        health_check_interval: after this many idle seconds the subscription connection is
            PINGed; no answer within as long again counts as a lost connection.
        max_pending: publishing waits while this many messages are queued for Redis.

    Raises:
        ImproperlyConfigured: the URL is not a Redis URL.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379",
        *,
        prefix: str | None = None,
        max_backoff: float = 5.0,
        health_check_interval: float = 10.0,
        max_pending: int = 10_000,
    ) -> None:
        url, url_prefix = _pop_query(url, "prefix")
        try:
            options: dict[str, Any] = dict(parse_url(url))
        except ValueError as exc:
            raise ImproperlyConfigured(f"Invalid Redis URL for the pub/sub backend: {exc}") from None
        self.prefix = prefix if prefix is not None else url_prefix if url_prefix is not None else DEFAULT_PREFIX
        self.url = url  # without the prefix option: what another client of this Redis connects with
        self.max_backoff = max_backoff
        self.health_check_interval = health_check_interval
        self.max_pending = max_pending
        self.where = options.get("path") or f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
        self._connection_class: type[AbstractConnection] = options.pop("connection_class", Connection)
        options.setdefault("socket_connect_timeout", 5.0)
        self._timeout = float(options.get("socket_timeout") or 5.0)  # for connecting and for replies
        # Our own framing (RESP2 arrays, raw bytes) and our own reconnection policy. No socket
        # timeout: with one, redis-py writes a command from a task of its own, which the end of
        # an event loop may cancel before it wrote anything; without, the write happens in the
        # caller's task before its first await, and timeouts are applied per read instead.
        options.update(protocol=2, decode_responses=False, retry=Retry(NoBackoff(), 0), socket_timeout=None)
        self._options = options
        self._channel_prefix = self.prefix.encode()
        self._topics: set[str] = set()
        self._sub: AbstractConnection | None = None
        self._pub: AbstractConnection | None = None
        self._waiters: dict[tuple[bytes, bytes], deque[Waiter]] = {}
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._wakeup = asyncio.Event()  # set: listen() has messages (or should end)
        self._outbox: deque[tuple[bytes, bytes]] = deque()
        self._outbox_ready = asyncio.Event()  # set: the writer has work
        self._outbox_idle = asyncio.Event()  # set: everything queued was written
        self._outbox_room = asyncio.Event()  # set: fewer than max_pending are queued
        self._tasks: list[asyncio.Task[None]] = []
        self._lost_at: float | None = None

    # -- introspection ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the subscription connection is up (``False`` during an outage)."""
        return self._sub is not None

    @property
    def topics(self) -> frozenset[str]:
        """The topics this node asks Redis for (those with local subscribers)."""
        return frozenset(self._topics)

    def channel(self, topic: str) -> bytes:
        """The Redis channel that carries ``topic`` (what ``PUBSUB CHANNELS`` lists)."""
        return self._channel_prefix + topic.encode()

    # -- PubSubBackend -----------------------------------------------------------------------

    async def connect(self) -> None:
        if self._tasks:
            return
        self._inbox.clear()
        # Fresh events: this run may be on another event loop than the last one.
        self._wakeup, self._outbox_ready = asyncio.Event(), asyncio.Event()
        self._outbox_idle, self._outbox_room = asyncio.Event(), asyncio.Event()
        self._outbox_idle.set()
        self._outbox_room.set()
        try:
            await self._open()
        except _FAILURES as exc:
            raise BackendError(f"Cannot connect to Redis at {self.where}: {exc}") from exc
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="socketapi-redis-reader"),
            asyncio.create_task(self._write_forever(), name="socketapi-redis-writer"),
        ]

    async def disconnect(self) -> None:
        tasks, self._tasks = self._tasks, []
        if self._outbox and tasks and all(not task.done() for task in tasks):
            with contextlib.suppress(TimeoutError):  # let the writer send what is queued
                async with asyncio.timeout(_FLUSH_TIMEOUT):
                    await self._outbox_idle.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._outbox:  # the writer was gone already (its event loop is shutting down)
            await self._flush()
        self._outbox_room.set()
        self._release_waiters()
        sub, pub, self._sub, self._pub = self._sub, self._pub, None, None
        await _close(sub)
        await _close(pub)
        self._topics.clear()
        self._lost_at = None
        self._wakeup.set()  # ends listen()

    async def subscribe(self, topic: str) -> None:
        self._check_connected()
        self._topics.add(topic)
        await self._command(b"SUBSCRIBE", topic)

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        if self._tasks:
            await self._command(b"UNSUBSCRIBE", topic)

    async def publish(self, topic: str, message: bytes) -> None:
        self._check_connected()
        if self._sub is None:
            raise BackendError(f"Redis at {self.where} is unreachable; reconnecting")
        # Queued, not awaited: a burst of broadcasts is not paced by round trips to Redis.
        self._outbox.append((self.channel(topic), message))
        self._outbox_idle.clear()
        self._outbox_ready.set()
        if len(self._outbox) >= self.max_pending:
            self._outbox_room.clear()
            await self._outbox_room.wait()

    def listen(self) -> AsyncIterator[tuple[str, bytes]]:
        self._check_connected()
        return self._messages(self._wakeup)

    async def _messages(self, wakeup: asyncio.Event) -> AsyncIterator[tuple[str, bytes]]:
        while self._wakeup is wakeup and self._tasks:
            while self._inbox:
                yield self._inbox.popleft()
            await wakeup.wait()
            wakeup.clear()

    # -- subscription connection -----------------------------------------------------------

    async def _open(self) -> AbstractConnection:
        """Connect the subscription connection and subscribe to every topic we want."""
        conn = await self._connect()
        # From here on, subscribe() sends its own SUBSCRIBE; the snapshot below covers the rest.
        self._sub = conn
        channels = [self.channel(topic) for topic in self._topics]
        if channels:
            try:
                await conn.send_command(b"SUBSCRIBE", *channels, check_health=False)
            except BaseException:
                self._sub = None
                await _close(conn)
                raise
        return conn

    async def _command(self, command: bytes, topic: str) -> None:
        """Send (UN)SUBSCRIBE and wait for Redis's confirmation, unless the connection is down."""
        conn = self._sub
        if conn is None or not conn.is_connected:
            return  # the reconnection subscribes to whatever self._topics holds by then
        channel = self.channel(topic)
        key = (command.lower(), channel)
        waiter: Waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, deque())
        waiters.append(waiter)
        try:
            await conn.send_command(command, channel, check_health=False)
        except BaseException as exc:
            waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(key, None)
            if isinstance(exc, _FAILURES):
                return  # the reader sees the broken connection too, and resubscribes
            raise
        await waiter  # released early if the connection breaks meanwhile

    async def _read_forever(self) -> None:
        conn = self._sub
        while True:
            if conn is None:
                conn = await self._reconnect()
            try:
                await self._read(conn)
            except Exception as exc:
                await self._connection_lost(conn, exc)
                conn = None

    async def _read(self, conn: AbstractConnection) -> None:
        prefix_length = len(self._channel_prefix)
        wakeup = self._wakeup
        pinged = False
        while True:
            try:
                response = await conn.read_response(timeout=self.health_check_interval)
            except ResponseError:
                logger.exception("Redis refused a pub/sub command")
                self._release_waiters()
                continue
            if response is None:  # idle: is the connection still there?
                if pinged:
                    raise BackendError(f"no answer to PING within {self.health_check_interval}s")
                await conn.send_command(b"PING", check_health=False)
                pinged = True
                continue
            pinged = False
            if not isinstance(response, list):
                continue  # PONG outside subscribed mode
            kind = response[0]
            if kind == b"message":
                self._inbox.append((response[1][prefix_length:].decode(), response[2]))
                wakeup.set()
            elif kind == b"subscribe" or kind == b"unsubscribe":
                waiters = self._waiters.get((kind, response[1]))
                if waiters:
                    waiter = waiters.popleft()
                    if not waiters:
                        del self._waiters[(kind, response[1])]
                    if not waiter.done():
                        waiter.set_result(None)

    async def _connection_lost(self, conn: AbstractConnection, exc: BaseException) -> None:
        self._sub = None
        self._lost_at = asyncio.get_running_loop().time()
        self._release_waiters()
        logger.warning(
            "Lost the Redis connection at %s (%s: %s): broadcasts between nodes are lost until it is back; "
            "local subscribers are still served. Reconnecting.",
            self.where,
            type(exc).__name__,
            exc,
        )
        pub, self._pub = self._pub, None
        await _close(conn)
        await _close(pub)

    async def _reconnect(self) -> AbstractConnection:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                conn = await self._open()
            except _FAILURES as exc:
                attempt += 1
                delay = min(self.max_backoff, _FIRST_BACKOFF * 2 ** min(attempt, 16)) * random.uniform(0.5, 1.0)
                logger.debug("Reconnecting to Redis at %s failed (%s); next attempt in %.2fs", self.where, exc, delay)
                await asyncio.sleep(delay)
                continue
            lost_at, self._lost_at = self._lost_at, None
            logger.warning(
                "Reconnected to Redis at %s after %.1fs and resubscribed to %d topic(s); "
                "broadcasts between nodes during that time were lost",
                self.where,
                loop.time() - (lost_at if lost_at is not None else loop.time()),
                len(self._topics),
            )
            return conn

    def _release_waiters(self) -> None:
        waiters, self._waiters = self._waiters, {}
        for queue in waiters.values():
            for waiter in queue:
                if not waiter.done():
                    waiter.set_result(None)

    # -- publishing connection ---------------------------------------------------------------

    async def _write_forever(self) -> None:
        ready, idle = self._outbox_ready, self._outbox_idle
        while True:
            await ready.wait()
            ready.clear()
            while self._outbox:
                batch = self._take_batch()
                try:
                    await self._publish(batch)
                except Exception as exc:
                    pub, self._pub = self._pub, None
                    await _close(pub)
                    logger.warning(
                        "%d broadcast(s) could not be published to Redis at %s (%s: %s); they are lost",
                        len(batch),
                        self.where,
                        type(exc).__name__,
                        exc,
                    )
            idle.set()

    def _take_batch(self) -> list[tuple[bytes, bytes]]:
        batch = [self._outbox.popleft() for _ in range(min(_BATCH, len(self._outbox)))]
        if len(self._outbox) < self.max_pending // 2:
            self._outbox_room.set()
        return batch

    async def _publish(self, batch: list[tuple[bytes, bytes]]) -> None:
        conn = self._pub
        if conn is None or not conn.is_connected:
            await _close(conn)
            self._pub = None
            try:
                conn = await self._connect()
            except asyncio.CancelledError:  # nothing was sent: disconnect() sends it
                self._outbox.extendleft(reversed(batch))
                raise
            self._pub = conn
        commands = [(b"PUBLISH", channel, message) for channel, message in batch]
        # Written to the socket before this call first awaits (see socket_timeout in __init__).
        await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        for _ in commands:
            if await conn.read_response(timeout=self._timeout) is None:
                raise BackendError(f"no reply to PUBLISH within {self._timeout}s")

    async def _connect(self) -> AbstractConnection:
        conn = self._connection_class(**self._options)
        try:
            async with asyncio.timeout(float(self._options["socket_connect_timeout"] or 5.0) + self._timeout):
                await conn.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await _close(conn)
            raise
        return conn

    async def _flush(self) -> None:
        """Send what is still queued, from the caller's task; what cannot be sent in time is lost."""

        queued = len(self._outbox)
        try:
            async with asyncio.timeout(_FLUSH_TIMEOUT):
                while self._outbox:
                    await self._publish(self._take_batch())
        except Exception as exc:
            logger.warning("Of %d broadcast(s) queued for Redis at %s, some are lost: %r", queued, self.where, exc)
        self._outbox.clear()

    def _check_connected(self) -> None:
        if not self._tasks:
            raise BackendError("RedisBackend is not connected; call connect() (the app's lifespan does) first")


async def _close(conn: AbstractConnection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.disconnect(nowait=True)


def _pop_query(url: str, name: str) -> tuple[str, str | None]:
    """``url`` without the query option ``name``, and that option's value (redis-py would reject it)."""
    parts = urlsplit(url)
    value = None
    kept = []
    for key, item in parse_qsl(parts.query, keep_blank_values=True):
        if key == name:
            value = item
        else:
            kept.append((key, item))
    return urlunsplit(parts._replace(query=urlencode(kept))), value
