"""Start a coroutine now, and make it a task only if it has to wait.

Most sends, replies and handlers finish without ever waiting for I/O. Running them to their
first suspension point in the caller, instead of scheduling a task for each, removes a task
creation and a trip through the event loop per frame. Work that does suspend continues as an
ordinary task, so a slow handler or a slow client still never blocks the caller.

Three flavours, for three kinds of code:

- :func:`start` drives the coroutine by hand and creates no Task unless it suspends. While it
  runs eagerly, ``asyncio.current_task()`` is the caller's task, which would mislead
  ``asyncio.timeout`` or an anyio cancel scope entered there. A transport uses it only for a
  server's ``send`` that is known to need neither (uvicorn's WebSocket implementations: they
  write to the transport, and at most wait on a future or event when it is paused); it is the
  cheapest: no object per frame written to each of thousands of subscribers.
- :func:`start_task` is the fallback for any other server's ``send``: a real Task (eager on
  Python 3.12+), reported as ``None`` when it already finished.
- :func:`spawn` is for user code (actions, channel hooks): a real Task, eager on Python 3.12+
  (``eager_start=True``, with the right ``current_task()``), an ordinary one before.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Coroutine
from types import CoroutineType
from typing import Any

NATIVE = sys.version_info >= (3, 12)  # asyncio.Task(..., eager_start=True) exists


def start(coro: Awaitable[Any], *, name: str | None = None) -> asyncio.Future[Any] | None:
    """Run ``coro`` until it finishes (return ``None``) or first suspends (return the task that finishes it).

    Exceptions the coroutine raises before suspending propagate to the caller. An awaitable that
    is not a coroutine is simply scheduled.
    """
    if type(coro) is not CoroutineType:  # (an exact type check: the ABC's isinstance is slow)
        return asyncio.ensure_future(coro)
    # The first step taken by a for loop, not by send(): a coroutine that finishes ends the loop
    # without a StopIteration raised into this frame, which costs more than the step itself
    # when the send finishes at once (the common case, once per subscriber of a broadcast).
    for awaiting in coro.__await__():  # noqa: B007 (used after the loop)
        break
    else:
        return None
    return resume(coro, awaiting, name=name)


def resume(coro: Coroutine[Any, Any, Any], awaiting: Any, *, name: str | None = None) -> asyncio.Task[Any]:
    """The task that finishes ``coro``, which was started by hand and first suspended on ``awaiting``."""
    return asyncio.get_running_loop().create_task(drive(coro, awaiting), name=name)


async def drive(coro: Coroutine[Any, Any, Any], awaiting: Any) -> Any:
    """Finish, in the current task, a coroutine that was started by hand and first suspended on ``awaiting``.

    It is driven the way a Task drives one: wait for what it yielded, then resume it. What it
    yielded is a future (``await future`` inside it) or ``None`` (a bare yield, as in
    ``asyncio.sleep(0)``). The future is waited on through its public callbacks, never awaited
    again (it was already awaited once, inside the coroutine). A cancellation of this task is
    passed on, message included: to that future if it can still be cancelled (the coroutine
    sees it when resumed), else thrown into the coroutine.
    """
    loop = asyncio.get_running_loop()
    while True:
        try:
            if awaiting is None:
                await asyncio.sleep(0)  # a bare yield: give the loop one turn
            else:
                await _wait(loop, awaiting)
        except asyncio.CancelledError as exc:
            if awaiting is None or not awaiting.cancel(*exc.args[:1]):
                try:
                    awaiting = coro.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
        try:
            awaiting = coro.send(None)
        except StopIteration as done:
            return done.value


async def _wait(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
    """Wait until ``future`` is done, through its public done callbacks."""
    if future.done():
        return
    wakeup: asyncio.Future[None] = loop.create_future()

    def wake(_: asyncio.Future[Any]) -> None:
        if not wakeup.done():
            wakeup.set_result(None)

    future.add_done_callback(wake)
    try:
        await wakeup
    finally:
        future.remove_done_callback(wake)


def start_task(coro: Awaitable[Any], *, name: str | None = None) -> asyncio.Future[Any] | None:
    """Like :func:`start`, but always through a real Task; ``None`` if it finished at once (3.12+)."""
    if type(coro) is not CoroutineType:
        return asyncio.ensure_future(coro)
    task = spawn(coro, name=name)
    if task.done():
        task.result()  # raises what the coroutine raised, as start() would
        return None
    return task


def spawn(
    coro: Coroutine[Any, Any, Any], *, name: str | None = None, loop: asyncio.AbstractEventLoop | None = None
) -> asyncio.Task[Any]:
    """A task for user code: eager where Python supports it properly (3.12+), an ordinary one before.

    Built with ``asyncio.Task`` directly, as ``loop.create_task`` would without a task factory
    (its own checks are measurable on the path of every action on Python 3.11). Pass ``loop``
    where it is at hand: looking up the running loop costs a ``getpid()`` system call on Linux.
    """
    if loop is None:
        loop = asyncio.get_running_loop()
    if NATIVE:
        return asyncio.Task(coro, loop=loop, eager_start=True, name=name)  # type: ignore[call-arg,unused-ignore]
    return asyncio.Task(coro, loop=loop, name=name)
