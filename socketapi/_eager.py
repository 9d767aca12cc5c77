"""Start a coroutine now, and make it a task only if it has to wait.

Most sends, replies and handlers finish without ever waiting for I/O. Running them to their
first suspension point in the caller, instead of scheduling a task for each, removes a task
creation and a trip through the event loop per frame. Work that does suspend continues as an
ordinary task, so a slow handler or a slow client still never blocks the caller.

Two flavours, for two kinds of code:

- :func:`start` drives the coroutine by hand and creates no Task unless it suspends. While it
  runs eagerly, ``asyncio.current_task()`` is the caller's task, which would mislead
  ``asyncio.timeout`` or an anyio cancel scope entered there. It is used only for the ASGI
  server's ``send`` (uvicorn's WebSocket implementations take no timeout on that path), where
  it is the cheapest: no object per frame written to each of thousands of subscribers.
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


class Backlog:
    """How many sockets have a write waiting for their client (process-wide, approximate across threads)."""

    waiting = 0


backlog = Backlog()


def start(coro: Awaitable[Any], *, name: str | None = None) -> asyncio.Future[Any] | None:
    """Run ``coro`` until it finishes (return ``None``) or first suspends (return the task that finishes it).

    Exceptions the coroutine raises before suspending propagate to the caller. An awaitable that
    is not a coroutine is simply scheduled.
    """
    if type(coro) is not CoroutineType:  # (an exact type check: the ABC's isinstance is slow)
        return asyncio.ensure_future(coro)
    try:
        awaiting = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_resume(coro, awaiting), name=name)


async def _resume(coro: Coroutine[Any, Any, Any], awaiting: Any) -> Any:
    """Drive a started coroutine the way a Task would: wait for what it waits for, then resume it."""
    while True:
        try:
            if awaiting is None:  # a bare yield (asyncio.sleep(0)): give the loop one turn
                await asyncio.sleep(0)
            else:
                awaiting._asyncio_future_blocking = False
                try:
                    await awaiting
                except asyncio.CancelledError:
                    if not awaiting.cancelled():  # we were cancelled, not the future
                        raise
                except Exception:  # the coroutine reads the outcome itself when resumed
                    pass
        except asyncio.CancelledError:
            try:
                awaiting = coro.throw(asyncio.CancelledError())
            except StopIteration as done:
                return done.value
            continue
        try:
            awaiting = coro.send(None)
        except StopIteration as done:
            return done.value


def spawn(coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
    """A task for user code: eager where Python supports it properly (3.12+), an ordinary task before."""
    if NATIVE:
        loop = asyncio.get_running_loop()
        return asyncio.Task(coro, loop=loop, eager_start=True, name=name)  # type: ignore[call-arg,unused-ignore]
    return asyncio.get_running_loop().create_task(coro, name=name)
