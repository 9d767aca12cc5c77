"""The app ``bench/scaling.py`` serves: one channel to fan out, one action that fires it.

Configured by environment: ``SCALING_PUBSUB`` is the pub/sub URL (``memory://`` or a Redis
URL with its ``?prefix=``), ``SCALING_PAYLOAD`` the padding in bytes, ``SCALING_HISTORY`` how many
broadcasts the channel keeps (0, the default: no history; ``bench/history.py`` sets it).
"""

from __future__ import annotations

import os
import time
from typing import Any

from socketapi import SocketAPI

PAD = "x" * int(os.environ.get("SCALING_PAYLOAD", "64"))

# A burst is queued for every socket at once: let the outboxes hold all of it. Subscribers send
# nothing after subscribing: on a busy machine a run outlasts the idle timeout, which would close them.
app = SocketAPI(pubsub=os.environ.get("SCALING_PUBSUB", "memory://"), max_queue=100_000, idle_timeout=None)


@app.channel("fanout", history=int(os.environ.get("SCALING_HISTORY", "0")) or None)
async def fanout(seq: int, t: float, pad: str = "") -> dict[str, Any]:
    return {"seq": seq, "t": t, "pad": pad}


@app.action("fire")
async def fire(start: int = 0, count: int = 1) -> int:
    """Broadcast ``count`` messages one after the other, each stamped with its publish time."""
    for seq in range(start, start + count):
        await fanout(seq=seq, t=time.time(), pad=PAD)
    return count
