"""A handler broadcasting in a tight loop yields to the socket writers, so subscribers that read keep up.

The subscriber reads as fast as it can through a small receive buffer: the server's writes to
it wait often, each time for a turn of the event loop to go on. Without a turn between
broadcasts, the burst would queue every frame after the first wait, overflow ``max_queue``
and close a healthy subscriber. The server runs in its own process (the reader must not
share an interpreter lock with it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from tests.live import RawSocket
from tests.support import ROOT, _wait_listening, free_port, stop

COUNT, SIZE, MAX_QUEUE = 20_000, 1000, 15_000  # without a yield, 20000 > 15000 + what the buffers hold


def test_a_reading_subscriber_gets_a_whole_burst() -> None:
    limits = {"max_queue": MAX_QUEUE, "max_queue_bytes": 256 * 1024 * 1024}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.apps.feed", str(port), "4096"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SOCKETAPI_TEST_LIMITS": json.dumps(limits)},
    )
    try:
        _wait_listening(server, port, 20)
        reader = RawSocket(port, rcvbuf=8192)
        reader.send({"type": "subscribe", "channel": "feed", "ref": "join"})
        assert reader.receive() == {"type": "subscribed", "channel": "feed", "ref": "join"}
        draining = threading.Thread(target=reader.drain, args=(b'"n":%d,' % (COUNT - 1),))
        draining.start()
        caller = RawSocket(port, rcvbuf=1 << 20)
        caller.send({"type": "action", "channel": "flood", "data": {"topic": "feed", "count": COUNT, "size": SIZE}})
        assert caller.receive(timeout=60)["data"] == COUNT
        draining.join(60)
        texts, _ = reader.read_until_closed(timeout=0.5)
        numbers = [json.loads(t)["data"]["n"] for t in texts]
        assert numbers == list(range(COUNT)), f"got {len(numbers)} of {COUNT}; closed for overflow?"
        caller.send({"type": "action", "channel": "leaves", "ref": "l"})
        assert caller.receive()["data"] == []
        reader.close()
        caller.close()
    finally:
        stop(server)
