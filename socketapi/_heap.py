"""One allocation at startup that keeps the event loop's socket reads off ``mmap``.

asyncio reads a socket with ``recv(256 KiB)``: CPython allocates a 256 KiB buffer for each
read, then shrinks it to the few hundred bytes that arrived. glibc's ``malloc`` serves a block
over its mmap threshold (128 KiB until it adapts) with ``mmap``, so every read of every frame
costs an ``mmap``, an ``mremap``, a ``munmap`` and the page faults of touching fresh pages:
measured on an ``action50`` run, a page fault per call and a third less throughput. glibc
raises the threshold by itself the first time it frees a block it mapped; whether that has
happened before the server runs depends on what the process happened to do before (which
modules it imported, from where). Mapping and freeing one such block at startup makes it so
every time. Elsewhere than glibc this is one short-lived allocation, nothing more.
"""

from __future__ import annotations

_BLOCK = 4 * 1024 * 1024  # over any read buffer, under glibc's highest dynamic threshold (32 MiB)


def settle_mmap_threshold() -> None:
    """Allocate and free one block large enough that glibc maps it, raising its mmap threshold past it."""
    block = bytearray(_BLOCK)
    del block
