"""socketapi/_heap.py: after the app's startup, socket reads do not fault in fresh pages.

asyncio reads with ``recv(256 KiB)``; under glibc, whether that buffer is mapped afresh for each
read depends on the allocator's history (its adaptive mmap threshold). Each case runs in a
fresh interpreter, made unlucky on purpose first: a freed 200 KB block leaves the threshold just
under a read buffer's size.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .support import ROOT

READS = 500
# The package itself is not imported: its imports would move the threshold first. _heap.py
# imports nothing, so its code is run from the file.
SCRIPT = f"""
import resource, socket, sys
block = bytearray(200_000)  # mapped, then freed: glibc's threshold ends just above 200 KB
del block
if sys.argv[1] == "settle":
    heap = {{}}
    exec(open("socketapi/_heap.py").read(), heap)
    heap["settle_mmap_threshold"]()
a, b = socket.socketpair()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range({READS}):
    a.send(b"x" * 100)
    b.recv(262144)  # what asyncio's selector transport asks for
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout.strip())


def test_reads_fault_in_no_fresh_pages_once_the_threshold_is_settled() -> None:
    unlucky = page_faults("none")
    if unlucky < READS:
        pytest.skip(f"this Python and allocator do not map each read buffer ({unlucky} faults in {READS} reads)")
    assert page_faults("settle") < READS // 10
