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
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from pydantic_core import to_json
from redis.exceptions import RedisError

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


class RedisHistory(HistoryStore):
    """The history store of a :class:`~socketapi.pubsub.redis.RedisBackend`: same Redis, same prefix."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publish_script: Any = None
        self._read_script: Any = None
        self._skips = itertools.count(1)
        self._keeper: AsyncGenerator[None, None] | None = None

    def keys(self, topic: str) -> list[str]:
        """The hash and the list that hold ``topic``'s history."""
        return [f"{self.backend.prefix}history-meta:{topic}", f"{self.backend.prefix}history:{topic}"]

    async def publish(
        self, hub: Hub, message: Broadcast, policy: HistoryPolicy, exclude: Subscriber | None = None
    ) -> None:
        # The envelope's header is completed by the script with the offset it assigns; the node
        # is left blank, so the publishing node delivers it too, when Redis sends it back in order.
        head = to_json(["", message.topic, message.event])[:-1] + b","
        skip = None
        if exclude is not None:
            skip = f"{hub.node_id}:{next(self._skips)}"
            hub.skips[skip] = exclude
        tail = (b"," + to_json(skip) if skip is not None else b"") + b"]\n"
        ttl = 0 if policy.ttl is None else max(1, round(policy.ttl))
        try:
            offset, _epoch = await self._run(
                "publish",
                self.keys(message.topic),
                [
                    self.backend.channel(message.topic),
                    head,
                    tail,
                    message.payload,
                    policy.size,
                    ttl,
                    _epoch_id(),
                    META_TTL,
                ],
            )
        except BackendError as exc:
            if skip is not None:
                hub.skips.pop(skip, None)
            logger.warning(
                "Broadcast on %r not recorded (%s); this node's subscribers get it without an offset",
                message.topic,
                exc,
            )
            hub.deliver_local(message, exclude)
            return
        message.offset = int(offset)

    async def read(self, topic: str, policy: HistoryPolicy, since: StreamPosition | None = None) -> Recovery:
        args: list[Any] = [
            _epoch_id(),
            META_TTL,
            -1 if since is None else since.offset,
            "" if since is None else since.epoch,
        ]
        result = await self._run("read", self.keys(topic), args)
        position = StreamPosition(int(result[0]), _text(result[1]))
        if since is None or not result[2]:
            return Recovery(position, None)
        missed = []
        for raw in result[3:]:
            _node, message = Broadcast.from_envelope(raw)
            missed.append(message)
        return Recovery(position, missed)

    async def _keep(self, client: aioredis.Redis) -> AsyncGenerator[None, None]:
        # Parked at its yield while the loop runs. A script's loop that ends (asyncio.run) closes
        # every async generator it knows of: our cue to close the connections nobody closed.
        try:
            yield
        finally:
            if self._client is client:
                await self.close()

    async def close(self) -> None:
        client, self._client, self._loop = self._client, None, None
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            with contextlib.suppress(RuntimeError):  # it is running: this close came from its finally
                await keeper.aclose()
        if client is not None:
            try:
                await client.aclose()
            except (RuntimeError, *_FAILURES):  # its event loop is gone
                pass

    async def _run(self, which: str, keys: list[str], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A client's connections belong to the event loop that opened them.
            client = aioredis.Redis.from_url(self.backend.url, socket_timeout=5.0, socket_connect_timeout=5.0)
            self._client, self._loop = client, loop
            self._publish_script = client.register_script(_PUBLISH)
            self._read_script = client.register_script(_READ)
            self._keeper = self._keep(client)  # held: a generator nobody refers to is closed by the loop
            await self._keeper.__anext__()
        script = self._publish_script if which == "publish" else self._read_script
        try:
            return await script(keys=keys, args=args)
        except _FAILURES as exc:
            raise BackendError(
                f"history at Redis {self.backend.where} unavailable: {type(exc).__name__}: {exc}"
            ) from exc


def _epoch_id() -> str:
    return uuid.uuid4().hex[:16]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
