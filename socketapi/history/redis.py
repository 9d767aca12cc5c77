"""History shared by every node through Redis: one offset sequence per topic, whatever node publishes.

Two keys per topic, under the backend's prefix: ``history-meta:{topic}``, a hash holding the
epoch and the latest offset, and ``history:{topic}``, a list of the last broadcasts as the
envelopes that crossed the broker. One Lua script assigns the offset, appends, trims and
PUBLISHes; Redis runs scripts one at a time, so the offsets, the list and the order in which
every node receives the broadcasts agree. A recorded broadcast reaches the publishing node's
own subscribers the same way, through its Redis subscription, so every subscriber on every
node sees a topic's broadcasts in offset order.

A flushed (or restarted, without persistence) Redis loses the hash: the next read or publish
starts the topic in a new epoch, and clients asking to recover from the old one get
``recovered: false``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections import deque
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, NamedTuple

import redis.asyncio as aioredis
from pydantic_core import to_json
from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from ..exceptions import BackendError
from ..pubsub import Broadcast
from ..types import StreamPosition
from .base import META_TTL, HistoryPolicy, HistoryStore, Recovery

if TYPE_CHECKING:
    from ..pubsub import Hub
    from ..pubsub.redis import RedisBackend
    from ..types import Subscriber

logger = logging.getLogger("socketapi.history")

# KEYS: meta hash, list. ARGV: channel, header head, header tail, payload, size, ttl (0: none), new epoch, meta ttl.
_PUBLISH = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[7]
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('DEL', KEYS[2])
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local envelope = ARGV[2] .. string.format('%d', offset) .. ARGV[3] .. ARGV[4]
redis.call('RPUSH', KEYS[2], envelope)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
if tonumber(ARGV[6]) > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('PUBLISH', ARGV[1], envelope)
return {offset, epoch}
"""

# KEYS: meta hash, list. ARGV: new epoch, meta ttl, since offset (-1: none), since epoch.
# Returns {offset, epoch, recoverable (0/1), envelopes after since...}.
_READ = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('DEL', KEYS[2])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local top = tonumber(redis.call('HGET', KEYS[1], 'o'))
local since = tonumber(ARGV[3])
if since < 0 or epoch ~= ARGV[4] or since > top then
  return {top, epoch, 0}
end
if since == top then
  return {top, epoch, 1}
end
local first = top - redis.call('LLEN', KEYS[2]) + 1
if since + 1 < first then
  return {top, epoch, 0}
end
local result = redis.call('LRANGE', KEYS[2], since + 1 - first, -1)
table.insert(result, 1, 1)
table.insert(result, 1, epoch)
table.insert(result, 1, top)
return result
"""

_FAILURES = (RedisError, OSError)
_BATCH = 256
_MAX_PENDING = 10_000
_REPLY_TIMEOUT = 5.0
_FLUSH_TIMEOUT = 5.0


class _Queued(NamedTuple):
    hub: Hub
    message: Broadcast
    exclude: Subscriber | None
    skip: str | None
    command: tuple[Any, ...]


class RedisHistory(HistoryStore):
    """The history store of a :class:`~socketapi.pubsub.redis.RedisBackend`: same Redis, same prefix.

    Recorded broadcasts are queued and one task writes the queue as pipelined script calls, in
    publish order, as the backend does with ``PUBLISH``: a burst is not paced by round trips.
    Each batch is written to the socket before the writer first awaits, so an event loop ending
    (a script's ``asyncio.run``) cannot drop a batch half sent; what is still queued then is sent
    by :meth:`close`, which the end of the loop triggers.
    """

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_script: Any = None
        self._skips = itertools.count(1)
        self._keeper: AsyncGenerator[None, None] | None = None
        options: dict[str, Any] = dict(parse_url(backend.url))
        self._connection_class: type[AbstractConnection] = options.pop("connection_class", Connection)
        options.setdefault("socket_connect_timeout", 5.0)
        options.update(protocol=2, decode_responses=False, retry=Retry(NoBackoff(), 0), socket_timeout=None)
        self._options = options
        self._conn: AbstractConnection | None = None
        self._outbox: deque[_Queued] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._room = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._failing = False

    def keys(self, topic: str) -> list[str]:
        """The hash and the list that hold ``topic``'s history."""
        return [f"{self.backend.prefix}history-meta:{topic}", f"{self.backend.prefix}history:{topic}"]

    async def publish(
        self, hub: Hub, message: Broadcast, policy: HistoryPolicy, exclude: Subscriber | None = None
    ) -> None:
        await self._ready()
        # The envelope's header is completed by the script with the offset it assigns; the node
        # is left blank, so the publishing node delivers it too, when Redis sends it back in order.
        head = to_json(["", message.topic, message.event])[:-1] + b","
        skip = None
        if exclude is not None:
            skip = f"{hub.node_id}:{next(self._skips)}"
            hub.skips[skip] = exclude
        tail = (b"," + to_json(skip) if skip is not None else b"") + b"]\n"
        ttl = 0 if policy.ttl is None else max(1, round(policy.ttl))
        meta, stream = self.keys(message.topic)
        channel = self.backend.channel(message.topic)
        args = (channel, head, tail, message.payload, policy.size, ttl, _epoch_id(), META_TTL)
        command: tuple[Any, ...] = (b"EVAL", _PUBLISH, 2, meta, stream, *args)
        self._outbox.append(_Queued(hub, message, exclude, skip, command))
        self._idle.clear()
        self._wake.set()
        if len(self._outbox) >= _MAX_PENDING:
            self._room.clear()
            await self._room.wait()

    async def read(self, topic: str, policy: HistoryPolicy, since: StreamPosition | None = None) -> Recovery:
        await self._ready()
        args: list[Any] = [
            _epoch_id(),
            META_TTL,
            -1 if since is None else since.offset,
            "" if since is None else since.epoch,
        ]
        try:
            result = await self._read_script(keys=self.keys(topic), args=args)
        except _FAILURES as exc:
            raise BackendError(
                f"history at Redis {self.backend.where} unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        position = StreamPosition(int(result[0]), _text(result[1]))
        if since is None or not result[2]:
            return Recovery(position, None)
        missed = []
        for raw in result[3:]:
            _node, message = Broadcast.from_envelope(raw)
            missed.append(message)
        return Recovery(position, missed)

    # -- the writer --------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                await self._write(self._take())
            self._idle.set()

    def _take(self) -> list[_Queued]:
        batch = [self._outbox.popleft() for _ in range(min(_BATCH, len(self._outbox)))]
        if len(self._outbox) < _MAX_PENDING // 2:
            self._room.set()
        return batch

    async def _write(self, batch: list[_Queued]) -> None:
        conn = self._conn
        if conn is None or not conn.is_connected:
            await _close(conn)
            self._conn = None
            try:
                conn = self._connection_class(**self._options)
                async with asyncio.timeout(float(self._options["socket_connect_timeout"] or 5.0)):
                    await conn.connect()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:  # nothing was sent: close() sends it
                self._outbox.extendleft(reversed(batch))
                raise
            except (*_FAILURES, TimeoutError) as exc:
                await _close(conn)
                self._unrecorded(batch, exc)
                return
            self._conn = conn
        try:
            # Written to the socket before this call first awaits (no socket timeout: see the backend).
            await conn.send_packed_command(conn.pack_commands([q.command for q in batch]), check_health=False)
        except _FAILURES as exc:
            self._conn = None
            await _close(conn)
            self._unrecorded(batch, exc)
            return
        replied = 0
        try:
            for queued in batch:
                try:
                    if await conn.read_response(timeout=_REPLY_TIMEOUT) is None:
                        raise BackendError(f"no reply within {_REPLY_TIMEOUT}s")
                except ResponseError as exc:
                    self._unrecorded([queued], exc)
                replied += 1
        except (*_FAILURES, BackendError) as exc:
            # Most likely the connection was gone before these reached Redis; if it ran them after
            # all, this node's subscribers see them twice (once without an offset) rather than never.
            self._conn = None
            await _close(conn)
            self._unrecorded(batch[replied:], exc)
            return
        if self._failing:
            self._failing = False
            logger.warning("Broadcasts on topics with history are recorded in Redis again")

    def _unrecorded(self, batch: list[_Queued], exc: BaseException) -> None:
        """Redis did not take them: this node's subscribers get them, without an offset."""
        if not self._failing:
            self._failing = True
            logger.warning(
                "Broadcasts on %r not recorded (history at Redis %s unavailable: %s: %s); "
                "this node's subscribers get them without an offset",
                batch[0].message.topic,
                self.backend.where,
                type(exc).__name__,
                exc,
            )
        for queued in batch:
            if queued.skip is not None:
                queued.hub.skips.pop(queued.skip, None)
            queued.hub.deliver_local(queued.message, queued.exclude)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _ready(self) -> None:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return
        # A client's connections belong to the event loop that opened them.
        client = aioredis.Redis.from_url(self.backend.url, socket_timeout=5.0, socket_connect_timeout=5.0)
        self._client, self._loop, self._conn = client, loop, None
        self._read_script = client.register_script(_READ)
        self._wake, self._idle, self._room = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._room.set()
        self._writer = loop.create_task(self._write_forever(), name="socketapi-history-writer")
        if self._outbox:
            self._wake.set()
        self._keeper = self._keep(client)  # held: a generator nobody refers to is closed by the loop
        await self._keeper.__anext__()

    async def _keep(self, client: aioredis.Redis) -> AsyncGenerator[None, None]:
        # Parked at its yield while the loop runs. A script's loop that ends (asyncio.run) closes
        # every async generator it knows of: our cue to send what is queued and close the connections.
        try:
            yield
        finally:
            if self._client is client:
                await self.close()

    async def close(self) -> None:
        """Send what is still queued (for at most a few seconds), then close the connections."""
        writer, self._writer = self._writer, None
        if writer is not None and not writer.done() and self._outbox:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_FLUSH_TIMEOUT):
                    await self._idle.wait()
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await writer
        if self._outbox:  # the writer was gone already (its event loop is ending): send from here
            try:
                async with asyncio.timeout(_FLUSH_TIMEOUT):
                    while self._outbox:
                        await self._write(self._take())
            except Exception as exc:
                logger.warning("Recorded broadcasts still queued for Redis are lost: %r", exc)
            self._outbox.clear()
        self._room.set()
        client, self._client, self._loop = self._client, None, None
        conn, self._conn = self._conn, None
        await _close(conn)
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            with contextlib.suppress(RuntimeError):  # it is running: this close came from its finally
                await keeper.aclose()
        if client is not None:
            try:
                await client.aclose()
            except (RuntimeError, *_FAILURES):  # its event loop is gone
                pass


async def _close(conn: AbstractConnection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.disconnect(nowait=True)


def _epoch_id() -> str:
    return uuid.uuid4().hex[:16]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
