"""Who is on each topic, on every node: tracking, coalesced diffs and replication through the hub.

Every node keeps a full replica of every node's entries (Phoenix.Tracker's layout, without
its CRDT): a node is the only writer of its own entries, so replicating is sending what
changed, in order. Each node publishes on one control topic of the pub/sub backend:

- ``delta`` (numbered): the entries its own subscribers tracked and untracked in the last
  window;
- ``hb`` every ``heartbeat`` seconds, with the number of its last delta;
- ``state``, its full list of entries, when it starts (``hello``) and when a peer asks;
- ``ask``, when it missed a peer's delta (pub/sub is at-most-once) or hears of a new peer;
- ``bye`` when it stops.

A peer not heard from for ``timeout`` seconds is considered dead: its entries leave, with
``presence_diff`` leaves to this node's subscribers. Nodes compute the diffs for their own
subscribers from their replica, so a diff frame never crosses the broker.

Diffs are coalesced per topic over ``window`` seconds: a join storm of a thousand members
costs each subscriber a handful of ``presence_diff`` frames, not a thousand.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from ..pubsub import Broadcast
from .state import DiffBuffer, Entry, Meta, PresenceState, group, new_ref, normalize_key, normalize_meta

if TYPE_CHECKING:
    from ..pubsub import Hub

logger = logging.getLogger("socketapi.presence")

CONTROL_TOPIC = "$socketapi:presence"
"""The pub/sub topic on which nodes replicate presence (with Redis: the backend's prefix + this)."""

T = TypeVar("T")
Rows = list[list[Any]]  # entries as they travel: [topic, key, ref, meta] or [topic, ref]


class _Replica:
    """What this node knows of a peer's entries."""

    __slots__ = ("asked_at", "entries", "last_seen", "seq")

    def __init__(self, now: float) -> None:
        self.seq = -1  # the number of its last delta applied; -1 until its full state arrived
        self.last_seen = now
        self.asked_at = -1e9
        self.entries: dict[str, Entry] = {}


class Presence:
    """``app.presence``: this node's view of every topic's presence, kept in sync with the other nodes.

    Args:
        hub: the pub/sub hub that carries replication between nodes.
        window: seconds over which changes are coalesced into one ``presence_diff`` per topic.
        heartbeat: seconds between two heartbeats of this node.
        timeout: seconds of silence after which a peer's entries are removed (a node killed
            without a word); at most 30.
    """

    def __init__(self, hub: Hub, *, window: float = 0.05, heartbeat: float = 1.0, timeout: float = 15.0) -> None:
        self.hub = hub
        self.window = window
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.configure(window=window, heartbeat=heartbeat, timeout=timeout)
        self._owned: dict[Hashable, Entry] = {}  # this node's entries, by the subscriber that tracked them
        self._local: dict[str, Entry] = {}  # the same, by ref
        self._replicas: dict[str, _Replica] = {}
        self._by_topic: dict[str, dict[str, Entry]] = {}  # every node's entries, by topic then ref
        self._pending: dict[str, DiffBuffer] = {}
        self._delta_joins: dict[str, Entry] = {}
        self._delta_leaves: dict[str, str] = {}  # ref -> topic
        self._seq = 0
        self._send_state = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._starting: asyncio.Future[None] | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        self._outbox: builtins.list[dict[str, Any]] = []
        self._sender: asyncio.Task[None] | None = None
        self._beater: asyncio.Task[None] | None = None
        self.frames_sent = 0  # presence_diff frames handed to the hub (one per topic per window)

    def configure(
        self, *, window: float | None = None, heartbeat: float | None = None, timeout: float | None = None
    ) -> None:
        """Change the timings (before the app starts); see the class for their meaning.

        Raises:
            ValueError: a timing is not positive, ``timeout`` is over 30 s or not above ``heartbeat``.
        """
        window = self.window if window is None else window
        heartbeat = self.heartbeat if heartbeat is None else heartbeat
        timeout = self.timeout if timeout is None else timeout
        if window < 0 or heartbeat <= 0 or timeout <= 0:
            raise ValueError("presence timings must be positive")
        if timeout > 30:
            raise ValueError(f"presence timeout must be at most 30 s, got {timeout}")
        if timeout <= heartbeat:
            raise ValueError(f"presence timeout ({timeout}s) must be longer than the heartbeat ({heartbeat}s)")
        self.window, self.heartbeat, self.timeout = window, heartbeat, timeout

    # -- reading -----------------------------------------------------------------------------

    def list(self, topic: str) -> PresenceState:
        """``S`` for ``topic``: every node's entries as this node knows them."""
        return group(list(self._by_topic.get(topic, {}).values()))

    def snapshot(self, topic: str) -> PresenceState:
        """``S`` as of the last diff sent: the ``presence_state`` for a new subscriber.

        The diff of the current window brings it up to date, and that diff may have cancelled a
        join against a leave: a state that showed such a join would never see it leave.
        """
        entries = list(self._by_topic.get(topic, {}).values())
        diff = self._pending.get(topic)
        if diff:
            entries = [e for e in entries if e.ref not in diff.joins]
            entries.extend(diff.leaves.values())
        return group(entries)

    @property
    def topics(self) -> builtins.list[str]:
        """Topics that have at least one entry."""
        return list(self._by_topic)

    @property
    def peers(self) -> builtins.list[str]:
        """The other nodes this node currently holds entries (or heartbeats) of."""
        return list(self._replicas)

    # -- tracking (from a channel instance, through its process) ------------------------------

    async def track(self, owner: Hashable, topic: str, key: object, meta: object = None) -> str:
        """Track ``owner`` (one subscriber) as ``key`` on ``topic``; returns the entry's ``phx_ref``.

        A subscriber tracks one entry: tracking again replaces it.
        """
        entry = Entry(topic, normalize_key(key), "", normalize_meta(meta))
        return await self._on_loop(self._track_now, owner, entry)

    async def update(self, owner: Hashable, meta: object) -> str:
        """Replace the meta of ``owner``'s entry: a leave of the old ref and a join of a new one.

        Raises:
            LookupError: ``owner`` tracks nothing.
        """
        return await self._on_loop(self._update_now, owner, normalize_meta(meta))

    async def untrack(self, owner: Hashable) -> None:
        """Remove ``owner``'s entry, if any."""
        if owner in self._owned:
            await self._on_loop(self._untrack_now, owner)

    def tracks(self, owner: Hashable) -> bool:
        return owner in self._owned

    def release(self, owner: Hashable) -> None:
        """Untrack ``owner`` without waiting: for a subscriber's teardown, which a cancellation may cut short.

        On another thread than the tracker's, the removal is handed over and done there.
        """
        if owner not in self._owned:
            return
        loop = self._loop
        if loop is None or threading.get_ident() == self._thread or not _alive(loop):
            self._untrack_now(owner)
        else:
            with contextlib.suppress(RuntimeError):  # that loop closed meanwhile
                loop.call_soon_threadsafe(self._untrack_now, owner)

    def _track_now(self, owner: Hashable, entry: Entry) -> str:
        old = self._owned.pop(owner, None)
        if old is not None:
            self._drop_local(old)
        entry.ref = new_ref()
        entry.meta = {**entry.meta, "phx_ref": entry.ref}
        self._keep_local(owner, entry)
        return entry.ref

    def _update_now(self, owner: Hashable, meta: Meta) -> str:
        old = self._owned.pop(owner, None)
        if old is None:
            raise LookupError("update() needs a tracked presence; call track(key, meta) first")
        self._drop_local(old)
        ref = new_ref()
        self._keep_local(owner, Entry(old.topic, old.key, ref, {**meta, "phx_ref": ref, "phx_ref_prev": old.ref}))
        return ref

    def _untrack_now(self, owner: Hashable) -> None:
        entry = self._owned.pop(owner, None)
        if entry is not None:
            self._drop_local(entry)

    def _keep_local(self, owner: Hashable, entry: Entry) -> None:
        self._owned[owner] = entry
        self._local[entry.ref] = entry
        self._delta_joins[entry.ref] = entry
        self._add(entry)

    def _drop_local(self, entry: Entry) -> None:
        del self._local[entry.ref]
        if self._delta_joins.pop(entry.ref, None) is None:
            self._delta_leaves[entry.ref] = entry.topic
        self._remove(entry)

    # -- the topic index and its diffs ----------------------------------------------------------

    def _add(self, entry: Entry) -> None:
        self._by_topic.setdefault(entry.topic, {})[entry.ref] = entry
        self._diff(entry.topic).join(entry)

    def _remove(self, entry: Entry) -> None:
        entries = self._by_topic.get(entry.topic)
        if entries is None or entries.pop(entry.ref, None) is None:
            return
        if not entries:
            del self._by_topic[entry.topic]
        self._diff(entry.topic).leave(entry)

    def _diff(self, topic: str) -> DiffBuffer:
        diff = self._pending.get(topic)
        if diff is None:
            diff = self._pending[topic] = DiffBuffer()
        self._schedule()
        return diff

    def _schedule(self) -> None:
        loop = self._loop
        if self._flush_timer is None and loop is not None and not loop.is_closed():
            self._flush_timer = loop.call_later(self.window, self._flush)

    def _flush(self) -> None:
        """End of a window: one ``presence_diff`` per changed topic here, one delta to the other nodes."""
        self._flush_timer = None
        pending, self._pending = self._pending, {}
        for topic, diff in pending.items():
            if diff:
                self.frames_sent += 1
                self.hub.deliver_local(Broadcast.encode(topic, diff.payload(), "presence_diff"))
        if self._delta_joins or self._delta_leaves:
            self._seq += 1
            joins = [[e.topic, e.key, e.ref, e.meta] for e in self._delta_joins.values()]
            leaves = [[topic, ref] for ref, topic in self._delta_leaves.items()]
            self._delta_joins, self._delta_leaves = {}, {}
            self._send({"t": "delta", "s": self._seq, "j": joins, "l": leaves})
        if self._send_state:
            self._send_state = False
            self._send(self._state_message())

    def _state_message(self, hello: bool = False) -> dict[str, Any]:
        entries = [[e.topic, e.key, e.ref, e.meta] for e in self._local.values()]
        message: dict[str, Any] = {"t": "state", "s": self._seq, "e": entries}
        if hello:
            message["hello"] = True
        return message

    # -- replication ------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        message["n"] = self.hub.node_id
        self._outbox.append(message)
        if self._sender is None and self._loop is not None:
            self._sender = self._loop.create_task(self._send_all(), name="socketapi-presence-sender")

    async def _send_all(self) -> None:
        try:
            while self._outbox:
                message = self._outbox.pop(0)
                await self.hub.publish(Broadcast.encode(CONTROL_TOPIC, message), local=False)
        finally:
            self._sender = None

    def deliver(self, message: Broadcast) -> None:
        """A replication message from another node (the hub calls this: we subscribe to the control topic)."""
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._thread:
            self._receive(message)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._receive, message)

    def _receive(self, raw: Broadcast) -> None:
        try:
            message = raw.data
            node, kind = message["n"], message["t"]
        except Exception:
            logger.warning("Dropped a malformed presence message: %r", raw)
            return
        if node == self.hub.node_id or self._loop is None:
            return
        if kind == "bye":
            self._forget(node, "left")
            return
        now = self._loop.time()
        replica = self._replicas.get(node)
        if replica is None:
            replica = self._replicas[node] = _Replica(now)
        replica.last_seen = now
        try:
            if kind == "state":
                self._apply_state(replica, message["s"], message["e"])
                if message.get("hello"):
                    self._send_state = True  # a node (re)started: tell it what we hold
                    self._schedule()
            elif kind == "delta":
                seq = message["s"]
                if seq == replica.seq + 1:
                    self._apply_delta(replica, seq, message["j"], message["l"])
                elif seq > replica.seq:
                    self._ask(node, replica, now)
            elif kind == "hb":
                if message["s"] != replica.seq:
                    self._ask(node, replica, now)
            elif kind == "ask" and message.get("of") == self.hub.node_id:
                self._send_state = True
                self._schedule()
        except (KeyError, TypeError, ValueError):
            logger.warning("Dropped a malformed presence message from node %s", node, exc_info=True)

    def _ask(self, node: str, replica: _Replica, now: float) -> None:
        if now - replica.asked_at >= self.heartbeat:
            replica.asked_at = now
            self._send({"t": "ask", "of": node})

    def _apply_state(self, replica: _Replica, seq: int, entries: Rows) -> None:
        fresh = {ref: Entry(topic, key, ref, meta) for topic, key, ref, meta in entries}
        for ref, entry in list(replica.entries.items()):
            if ref not in fresh:
                self._remove(entry)
        for ref, entry in fresh.items():
            if ref not in replica.entries:
                self._add(entry)
            else:
                fresh[ref] = replica.entries[ref]
        replica.entries = fresh
        replica.seq = seq

    def _apply_delta(self, replica: _Replica, seq: int, joins: Rows, leaves: Rows) -> None:
        for topic, key, ref, meta in joins:
            entry = replica.entries[ref] = Entry(topic, key, ref, meta)
            self._add(entry)
        for _topic, ref in leaves:
            gone = replica.entries.pop(ref, None)
            if gone is not None:
                self._remove(gone)
        replica.seq = seq

    def _forget(self, node: str, why: str) -> None:
        replica = self._replicas.pop(node, None)
        if replica is None:
            return
        if replica.entries:
            logger.info("Node %s %s: its %d presence entries leave", node, why, len(replica.entries))
        for entry in replica.entries.values():
            self._remove(entry)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat)
            self._send({"t": "hb", "s": self._seq})
            now = loop.time()
            for node, replica in list(self._replicas.items()):
                if now - replica.last_seen > self.timeout:
                    self._forget(node, f"is silent for over {self.timeout:g}s (presumed dead)")

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the other nodes: subscribe to the control topic, announce this node, start the heartbeat."""
        await self._ready()

    async def stop(self) -> None:
        """Say goodbye to the other nodes (they drop this node's entries at once) and stop."""
        loop = self._loop
        if loop is None:
            return
        if loop is not asyncio.get_running_loop():
            if _alive(loop):
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.stop(), loop))
            else:
                self._abandon()
            return
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush()
        beater, sender = self._beater, self._sender
        self._outbox.append({"t": "bye", "n": self.hub.node_id})
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender
        with contextlib.suppress(Exception):
            await self._send_all()
        if beater is not None:
            beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beater
        with contextlib.suppress(Exception):
            await self.hub.unsubscribe(CONTROL_TOPIC, self)
        self._abandon()

    def _abandon(self) -> None:
        self._loop = self._thread = self._starting = None
        self._beater = self._sender = self._flush_timer = None
        self._outbox.clear()
        for node in list(self._replicas):
            self._forget(node, "is out of reach: this node stopped")
        self._pending.clear()

    async def _ready(self) -> asyncio.AbstractEventLoop:
        """The loop this tracker runs on, started on the current one if it runs nowhere."""
        loop = self._loop
        if loop is not None:
            if _alive(loop):
                if self._starting is not None and loop is asyncio.get_running_loop():
                    await asyncio.shield(self._starting)
                return loop
            self._abandon()  # its event loop has gone (a test client's thread, say)
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        starting = self._starting = loop.create_future()
        try:
            await self.hub.subscribe(CONTROL_TOPIC, self)
        except BaseException:
            self._loop = self._thread = self._starting = None
            starting.set_result(None)
            raise
        self._starting = None
        starting.set_result(None)
        self._send(self._state_message(hello=True))
        self._beater = loop.create_task(self._beat(), name="socketapi-presence-heartbeat")
        if self._pending or self._delta_joins or self._delta_leaves:
            self._schedule()
        return loop

    async def _on_loop(self, func: Callable[..., T], *args: Any) -> T:
        loop = await self._ready()
        if loop is asyncio.get_running_loop():
            return func(*args)

        async def there() -> T:
            return func(*args)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(there(), loop))


def _alive(loop: asyncio.AbstractEventLoop) -> bool:
    return loop.is_running() and not loop.is_closed()
