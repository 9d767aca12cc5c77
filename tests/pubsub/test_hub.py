"""The hub: ref-counted backend subscriptions under concurrency, failures, and its event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from socketapi.exceptions import BackendError
from socketapi.pubsub import Broadcast, Hub, InMemoryBackend, MemoryBroker

from .receivers import Collector


class GatedBackend(InMemoryBackend):
    """Records every call; ``hold(op)`` makes that operation wait until ``release(op)``."""

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        super().__init__(broker)
        self.calls: list[tuple[str, str]] = []
        self.connects = 0
        self.threads: set[int] = set()
        self.fail: dict[str, BaseException] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self._entered: dict[str, asyncio.Event] = {}

    def hold(self, op: str) -> None:
        self._gates[op] = asyncio.Event()
        self._entered[op] = asyncio.Event()

    def release(self, op: str) -> None:
        self._gates.pop(op).set()

    async def entered(self, op: str) -> None:
        await asyncio.wait_for(self._entered[op].wait(), 5)

    async def _call(self, op: str, topic: str) -> None:
        self.calls.append((op, topic))
        self.threads.add(threading.get_ident())
        if op in self._entered:
            self._entered[op].set()
        gate = self._gates.get(op)
        if gate is not None:
            await gate.wait()
        if op in self.fail:
            raise self.fail[op]

    async def connect(self) -> None:
        self.connects += 1
        await asyncio.sleep(0)  # a real connect yields: concurrent starters must wait for it
        await super().connect()

    async def subscribe(self, topic: str) -> None:
        await self._call("subscribe", topic)
        await super().subscribe(topic)

    async def unsubscribe(self, topic: str) -> None:
        await self._call("unsubscribe", topic)
        await super().unsubscribe(topic)

    async def publish(self, topic: str, message: bytes) -> None:
        await self._call("publish", topic)
        await super().publish(topic, message)


async def settle() -> None:
    """Let every runnable task advance until it blocks (no wall-clock time involved)."""
    for _ in range(10):
        await asyncio.sleep(0)


# -- ref-counting under concurrency ------------------------------------------------------------


async def test_a_second_joiner_waits_for_the_first_joiners_confirmation() -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        backend.hold("subscribe")
        first = asyncio.create_task(hub.subscribe("chat", Collector()))
        await backend.entered("subscribe")
        second = asyncio.create_task(hub.subscribe("chat", Collector()))
        await settle()
        assert not first.done()
        assert not second.done()  # before the fix it returned at once, deaf until the confirmation
        assert hub.topics == {}
        backend.release("subscribe")
        await asyncio.gather(first, second)
        assert backend.calls == [("subscribe", "chat")]
        assert hub.topics == {"chat": 2}


async def test_leaving_right_after_a_concurrent_join_does_not_strand_the_first_joiner() -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        first, second = Collector(), Collector()
        backend.hold("subscribe")
        joining = asyncio.create_task(hub.subscribe("chat", first))
        await backend.entered("subscribe")

        async def join_and_leave() -> None:
            await hub.subscribe("chat", second)
            await hub.unsubscribe("chat", second)

        other = asyncio.create_task(join_and_leave())
        await settle()
        backend.release("subscribe")
        await asyncio.gather(joining, other)
        assert hub.topics == {"chat": 1}
        assert backend.broker.topics == {"chat": 1}
        hub.deliver_local(Broadcast.encode("chat", "hello"))
        assert first.received == ["hello"]


async def test_joining_while_the_last_subscriber_leaves_subscribes_again_after_the_leave() -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        leaving, joining = Collector(), Collector()
        await hub.subscribe("chat", leaving)
        backend.hold("unsubscribe")
        leave = asyncio.create_task(hub.unsubscribe("chat", leaving))
        await backend.entered("unsubscribe")
        join = asyncio.create_task(hub.subscribe("chat", joining))
        await settle()
        assert not join.done()  # waits for the unsubscribe to finish, then subscribes again
        backend.release("unsubscribe")
        await asyncio.gather(leave, join)
        assert backend.calls == [("subscribe", "chat"), ("unsubscribe", "chat"), ("subscribe", "chat")]
        assert hub.topics == {"chat": 1}
        assert backend.broker.topics == {"chat": 1}


async def test_a_joiner_already_waiting_keeps_the_topic_when_the_last_subscriber_leaves() -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        leaving, joining = Collector(), Collector()
        await hub.subscribe("chat", leaving)
        async with hub._topics["chat"].lock:  # some other subscribe/unsubscribe of the topic is busy
            join = asyncio.create_task(hub.subscribe("chat", joining))
            await settle()
            await hub.unsubscribe("chat", leaving)  # a joiner is waiting: no backend unsubscribe
        await join
        assert backend.calls == [("subscribe", "chat")]
        assert hub.topics == {"chat": 1}


async def test_a_subscriber_joining_as_the_last_one_gets_the_lock_to_leave_keeps_the_topic() -> None:
    """The leave looks again once it holds the topic's lock: someone may have joined while it waited.

    A restarted hub re-subscribes its topics holding their locks, with nobody counted as joining,
    so the last subscriber's leave waits there. When the re-subscribe releases the lock, a new
    subscriber can join (the topic is relayed, the lock is free) before that leave resumes.
    """
    backend = GatedBackend()
    hub = Hub(backend)
    leaving, joining = Collector(), Collector()
    await hub.subscribe("chat", leaving)
    await hub.stop()
    backend.hold("subscribe")
    start = asyncio.create_task(hub.start())  # re-subscribes "chat", holding its lock
    await backend.entered("subscribe")
    leave = asyncio.create_task(hub.unsubscribe("chat", leaving))  # the last subscriber waits for the lock
    await settle()
    assert not leave.done()
    backend.release("subscribe")
    await asyncio.sleep(0)  # the re-subscribe ends and releases the lock; the leave is next in line
    await hub.subscribe("chat", joining)  # ...but this join comes first
    assert not leave.done()
    await asyncio.gather(start, leave)
    assert backend.calls == [("subscribe", "chat"), ("subscribe", "chat")]  # no unsubscribe
    assert hub.topics == {"chat": 1}
    other = InMemoryBackend(backend.broker)
    await other.connect()
    await other.publish("chat", Broadcast.encode("chat", "from afar").to_envelope("another-node"))
    assert await joining.wait_for("from afar") == ["from afar"]
    await other.disconnect()
    await hub.stop()


async def test_subscribing_the_same_subscriber_twice_keeps_one_subscription() -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        subscriber = Collector()
        await hub.subscribe("chat", subscriber)
        await hub.subscribe("chat", subscriber)
        assert hub.topics == {"chat": 1}
        await hub.unsubscribe("chat", subscriber)
        await hub.unsubscribe("chat", subscriber)
        assert backend.calls == [("subscribe", "chat"), ("unsubscribe", "chat")]
        assert hub.topics == {}


async def test_a_failed_backend_subscribe_raises_and_leaves_no_trace() -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        backend.fail["subscribe"] = BackendError("broker says no")
        with pytest.raises(BackendError, match="broker says no"):
            await hub.subscribe("chat", Collector())
        assert hub.topics == {}
        assert hub._topics == {}
        del backend.fail["subscribe"]
        await hub.subscribe("chat", Collector())
        assert backend.calls == [("subscribe", "chat"), ("subscribe", "chat")]


# -- publishing ------------------------------------------------------------------------------


async def test_a_failing_relay_is_logged_once_per_outage_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    backend = GatedBackend()
    async with Hub(backend) as hub:
        local = Collector()
        await hub.subscribe("chat", local)
        backend.fail["publish"] = BackendError("broker down")
        with caplog.at_level(logging.WARNING, logger="socketapi.pubsub"):
            await hub.publish(Broadcast.encode("chat", 1))
            await hub.publish(Broadcast.encode("chat", 2))
            del backend.fail["publish"]
            await hub.publish(Broadcast.encode("chat", 3))
            await hub.publish(Broadcast.encode("chat", 4))  # back to normal: nothing to say
            backend.fail["publish"] = BackendError("broker down again")
            await hub.publish(Broadcast.encode("chat", 5))  # a new outage: said again
        assert local.received == [1, 2, 3, 4, 5]  # local delivery never depends on the backend
        messages = [record.getMessage() for record in caplog.records]
        assert len(messages) == 3
        assert "no longer reach other nodes (BackendError: broker down)" in messages[0]
        assert "reach other nodes again; 2 published meanwhile" in messages[1]
        assert "no longer reach other nodes (BackendError: broker down again)" in messages[2]


async def test_messages_from_the_backend_with_our_own_node_id_are_dropped() -> None:
    broker = MemoryBroker()
    other = InMemoryBackend(broker)
    await other.connect()
    async with Hub(InMemoryBackend(broker)) as hub:
        subscriber = Collector()
        await hub.subscribe("chat", subscriber)
        await other.publish("chat", Broadcast.encode("chat", "echo").to_envelope(hub.node_id))
        await other.publish("chat", Broadcast.encode("chat", "remote").to_envelope("another-node"))
        assert await subscriber.wait_for("remote") == ["remote"]
    await other.disconnect()


async def test_a_malformed_message_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    broker = MemoryBroker()
    other = InMemoryBackend(broker)
    await other.connect()
    async with Hub(InMemoryBackend(broker)) as hub:
        subscriber = Collector()
        await hub.subscribe("chat", subscriber)
        with caplog.at_level(logging.WARNING, logger="socketapi.pubsub"):
            await other.publish("chat", b"not an envelope")
            await other.publish("chat", Broadcast.encode("chat", "fine").to_envelope("another-node"))
            assert await subscriber.wait_for("fine") == ["fine"]
        assert "Dropped a malformed message" in caplog.text
    await other.disconnect()


# -- lifecycle and event loops -------------------------------------------------------------


async def test_concurrent_first_uses_connect_the_backend_once() -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    await asyncio.gather(hub.start(), hub.subscribe("chat", Collector()), hub.publish(Broadcast.encode("chat", 1)))
    assert backend.connects == 1
    assert hub.running
    await hub.stop()
    assert not hub.running
    assert not backend.connected


async def test_stop_keeps_local_subscribers_and_start_subscribes_the_backend_again() -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    await hub.subscribe("chat", Collector())
    await hub.stop()
    assert hub.topics == {"chat": 1}
    assert backend.broker.topics == {}
    await hub.start()
    assert backend.broker.topics == {"chat": 1}
    await hub.stop()


def test_a_hub_used_without_start_connects_lazily_and_disconnects_when_its_loop_ends() -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    seen: dict[str, Any] = {}

    async def script() -> None:
        await hub.publish(Broadcast.encode("chat", "from a script"))
        seen["connected"] = backend.connected
        seen["running"] = hub.running

    asyncio.run(script())
    assert seen == {"connected": True, "running": True}
    assert backend.calls == [("publish", "chat")]
    assert not hub.running  # asyncio.run closed the loop, and with it the hub's connection
    assert not backend.connected
    asyncio.run(script())  # a second run connects again, on its own loop
    assert backend.connects == 2


class FailingConnect(GatedBackend):
    """Its first ``connect`` fails, as a broker that is not up yet."""

    async def connect(self) -> None:
        if self.connects == 0:
            self.connects += 1
            raise BackendError("broker not up yet")
        await super().connect()


async def test_a_hub_whose_broker_was_unreachable_starts_at_the_next_try() -> None:
    backend = FailingConnect()
    hub = Hub(backend)
    with pytest.raises(BackendError, match="not up yet"):
        await hub.start()
    assert not hub.running
    await hub.start()
    subscriber = Collector()
    await hub.subscribe("chat", subscriber)
    await hub.publish(Broadcast.encode("chat", "up"))
    assert subscriber.received == ["up"]
    await hub.stop()


async def test_a_restart_whose_subscribe_fails_disconnects_the_backend_and_can_be_tried_again() -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    await hub.subscribe("chat", Collector())
    await hub.stop()
    backend.fail["subscribe"] = BackendError("broker says no")
    with pytest.raises(BackendError, match="broker says no"):
        await hub.start()  # the subscriber that outlived the last run cannot be subscribed again
    assert not backend.connected  # not left connected with nobody listening
    assert not hub.running
    del backend.fail["subscribe"]
    await hub.start()
    assert backend.broker.topics == {"chat": 1}
    await hub.stop()


class FailingDisconnect(GatedBackend):
    async def disconnect(self) -> None:
        await super().disconnect()
        raise BackendError("connection already broken")


async def test_a_failed_restart_raises_its_own_error_even_when_the_clean_up_fails_too() -> None:
    backend = FailingDisconnect()
    hub = Hub(backend)
    await hub.subscribe("chat", Collector())
    with contextlib.suppress(BackendError):
        await hub.stop()
    backend.fail["subscribe"] = BackendError("broker says no")
    with pytest.raises(BackendError, match="broker says no"):
        await hub.start()


async def test_a_stop_while_another_task_starts_the_hub_waits_for_the_start_then_stops_it() -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    starting = asyncio.create_task(hub.start())
    await asyncio.sleep(0)  # the start is under way: connecting
    assert not hub.running
    await hub.stop()
    await starting
    assert not hub.running
    assert not backend.connected
    await hub.start()  # and it can start again afterwards
    assert hub.running
    await hub.stop()


async def test_the_last_unsubscribe_of_a_topic_forgets_it() -> None:
    """A hub serving many short-lived topics (one per user, per document) keeps none of them."""
    async with Hub(GatedBackend()) as hub:
        subscribers = [Collector() for _ in range(3)]
        for n, subscriber in enumerate(subscribers):
            await hub.subscribe(f"doc:{n}", subscriber)
            await hub.subscribe("shared", subscriber)
        for n, subscriber in enumerate(subscribers):
            await hub.unsubscribe(f"doc:{n}", subscriber)
            await hub.unsubscribe("shared", subscriber)
        assert hub.topics == {}
        assert hub._topics == {}


def loop_thread(loop: asyncio.AbstractEventLoop) -> int:
    """The ident of the thread running ``loop``."""
    return asyncio.run_coroutine_threadsafe(_thread_ident(), loop).result(5)


async def _thread_ident() -> int:
    return threading.get_ident()


@pytest.fixture
def loop_in_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in another thread, as Starlette's TestClient runs the app."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def test_calls_from_another_thread_are_handed_to_the_hubs_loop(loop_in_thread: asyncio.AbstractEventLoop) -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    asyncio.run_coroutine_threadsafe(hub.start(), loop_in_thread).result(5)
    subscriber = Collector()

    async def from_this_thread() -> None:
        await hub.subscribe("chat", subscriber)
        await hub.publish(Broadcast.encode("chat", "hi"))
        with pytest.raises(RuntimeError) as refused:
            await hub.start()
        assert str(refused.value) == (
            "The hub already runs on another event loop (another thread); "
            "start it once, on the loop that serves the app"
        )
        await hub.unsubscribe("chat", subscriber)  # handed over too: the backend is called on the hub's thread

    asyncio.run(from_this_thread())
    assert subscriber.received == ["hi"]  # delivered locally, in the publisher's thread
    assert backend.calls == [("subscribe", "chat"), ("publish", "chat"), ("unsubscribe", "chat")]
    assert backend.threads == {loop_thread(loop_in_thread)}
    assert backend.threads == {loop_in_thread._thread_id}  # type: ignore[attr-defined]
    assert hub.running  # the publisher's loop ending did not stop the serving loop's hub
    asyncio.run_coroutine_threadsafe(hub.stop(), loop_in_thread).result(5)


def test_a_hub_whose_loop_closed_without_stopping_it_starts_afresh_on_the_next_loop() -> None:
    """A loop closed without shutting down its async generators never told the hub it ended."""
    broker = MemoryBroker()
    backend = InMemoryBackend(broker)
    hub, other = Hub(backend), Hub(InMemoryBackend(broker))
    subscriber = Collector()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(hub.subscribe("chat", subscriber))
    assert broker.topics == {"chat": 1}
    loop.close()  # abruptly: the hub still believes it runs there
    broker.leave(backend)  # and the broker dropped the dead node, as Redis drops a dead connection

    async def next_run() -> tuple[dict[str, int], list[Any]]:
        await hub.start()  # on a new loop: the old run is forgotten, the topic subscribed again
        relayed = dict(broker.topics)
        await other.publish(Broadcast.encode("chat", "after the restart"))
        received = await subscriber.wait_for("after the restart")
        await hub.subscribe("chat", Collector())  # the topic's lock belongs to this loop now
        await hub.stop()
        await other.stop()
        return relayed, received

    relayed, received = asyncio.run(next_run())
    assert relayed == {"chat": 1}  # subscribed again for the subscriber that outlived the old run
    assert received == ["after the restart"]


def test_a_hub_whose_loop_closed_starts_afresh_at_the_next_subscribe_without_a_start() -> None:
    """No explicit start: the first call on the new loop finds the old loop dead and starts the hub here."""
    broker = MemoryBroker()
    backend = InMemoryBackend(broker)
    hub, other = Hub(backend), Hub(InMemoryBackend(broker))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(hub.subscribe("chat", Collector()))
    loop.close()
    broker.leave(backend)

    async def next_run() -> tuple[bool, list[Any]]:
        subscriber = Collector()
        await hub.subscribe("news", subscriber)
        running = hub.running
        await other.publish(Broadcast.encode("news", "from another node"))
        received = await subscriber.wait_for("from another node")  # the listener runs on this loop
        await hub.stop()
        await other.stop()
        return running, received

    assert asyncio.run(next_run()) == (True, ["from another node"])


def test_a_hub_whose_loop_stopped_without_closing_is_not_handed_calls_it_would_never_run() -> None:
    """A loop that stopped (run_until_complete returned) but is not closed runs nothing any more."""
    hub = Hub(InMemoryBackend())
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(hub.subscribe("chat", Collector()))

        async def next_run() -> dict[str, int]:
            await asyncio.wait_for(hub.subscribe("chat", Collector()), 5)  # here, not on the stopped loop
            topics = hub.topics
            await hub.stop()
            return topics

        assert asyncio.run(next_run()) == {"chat": 2}
    finally:
        pending = asyncio.all_tasks(loop)  # the old run's listener: end it before closing its loop

        async def cancelled() -> None:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        loop.run_until_complete(cancelled())
        loop.close()


def test_a_call_handed_to_a_loop_that_closed_meanwhile_raises_a_backend_error() -> None:
    from socketapi.pubsub.hub import _handover

    loop = asyncio.new_event_loop()
    loop.close()

    async def hand_over() -> None:
        await _handover(asyncio.sleep(0), loop)

    with pytest.raises(BackendError, match=r"^The event loop the pub/sub hub runs on has closed$"):
        asyncio.run(hand_over())


class Reaching(InMemoryBackend):
    """An in-memory backend that claims to reach other processes, as Redis does."""

    reaches_other_processes = True


async def test_a_broadcast_from_a_process_that_serves_nothing_goes_to_the_server_outside() -> None:
    handed: list[Any] = []

    async def outside(message: Broadcast) -> None:
        handed.append(message.data)

    script = Hub(InMemoryBackend(), outside=outside)
    await script.publish(Broadcast.encode("chat", "from a script"))
    assert handed == ["from a script"]  # posted to the server: this process has no subscriber to reach
    assert not script.running  # and no backend was connected for it

    serving = Hub(InMemoryBackend(), outside=outside)
    subscriber = Collector()
    await serving.subscribe("chat", subscriber)  # a local subscriber: this process serves
    await serving.publish(Broadcast.encode("chat", "served here"))
    assert subscriber.received == ["served here"]
    await serving.stop()

    brokered = Hub(Reaching(), outside=outside)
    await brokered.publish(Broadcast.encode("chat", "through the broker"))
    assert brokered.running  # the broker carries it to the server
    await brokered.stop()
    assert handed == ["from a script"]


async def test_a_publish_gives_the_loop_a_turn_only_while_a_socket_write_waits() -> None:
    async with Hub(InMemoryBackend()) as hub:
        turns: list[int] = []

        async def count_turns() -> None:
            while True:
                turns.append(1)
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        before = len(turns)
        await hub.publish(Broadcast.encode("chat", 1))
        assert len(turns) == before  # nothing waits: the publisher goes on without a turn
        hub.backlog.waiting = 1
        await hub.publish(Broadcast.encode("chat", 2))
        assert len(turns) > before  # a write waits: the loop got a turn to flush it
        counter.cancel()


async def test_a_broadcast_leaves_out_only_the_excluded_subscriber() -> None:
    async with Hub(InMemoryBackend()) as hub:
        sender, other = Collector(), Collector()
        await hub.subscribe("chat", sender)
        await hub.subscribe("chat", other)
        await hub.publish(Broadcast.encode("chat", "hi"), exclude=sender)
        assert (sender.received, other.received) == ([], ["hi"])
        await hub.publish(Broadcast.encode("chat", "all"))
        assert (sender.received, other.received) == (["all"], ["hi", "all"])
        assert hub.topics == {"chat": 2}


def test_a_broadcast_handed_over_from_another_thread_reaches_the_other_nodes(
    loop_in_thread: asyncio.AbstractEventLoop,
) -> None:
    broker = MemoryBroker()
    hub, other = Hub(InMemoryBackend(broker)), Hub(InMemoryBackend(broker))
    subscriber = Collector()

    def there(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop_in_thread).result(5)

    there(hub.start())
    there(other.subscribe("chat", subscriber))
    asyncio.run(hub.publish(Broadcast.encode("chat", "from this thread")))  # relayed on the hub's loop
    deadline = time.monotonic() + 5
    while not subscriber.received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert subscriber.received == ["from this thread"]
    asyncio.run(other.unsubscribe("chat", subscriber))  # handed over too: the last one unsubscribes the node
    assert other.topics == {}
    assert broker.topics == {}
    there(hub.stop())
    there(other.stop())


def test_a_stop_from_another_thread_is_handed_to_the_hubs_loop(loop_in_thread: asyncio.AbstractEventLoop) -> None:
    backend = GatedBackend()
    hub = Hub(backend)
    asyncio.run_coroutine_threadsafe(hub.start(), loop_in_thread).result(5)
    asyncio.run(hub.stop())  # from this thread: done on the hub's loop
    assert not hub.running
    assert not backend.connected
