"""Fan-out on a topic with history against the same fan-out without, in one run.

Prints figures; it is not a test. Run from the repository root::

    python bench/history.py [--subscribers 1000] [--burst 200] [--rounds 3] [--repeats 3] [--redis]

It serves ``bench/apps_scaling.py`` twice per repeat, alternating: once plain, once with
``history=100`` on its channel, and measures each with ``bench/scaling.py``'s clients and
method (bursts of broadcasts to every subscriber, then paced ones for latency). The ratio
history/plain of the medians is the cost of keeping history. With ``--redis`` both setups run
on two nodes joined by Redis (history then goes through the Lua script).

Clients, nodes (and Redis) share this machine; on a shared machine quote the ratio, not the rates.
The node CPU time per delivery (user + system, from ``/proc``, during the bursts) is the steadier
figure: a busy machine slows every run down but costs each delivery about the same CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import scaling  # noqa: E402


@contextlib.contextmanager
def nodes(pubsub: str, count: int, payload: int, history: int) -> Iterator[tuple[list[str], list[int]]]:
    os.environ["SCALING_HISTORY"] = str(history)  # read by the app in the node processes started below
    try:
        with contextlib.ExitStack() as stack:
            started = [stack.enter_context(scaling.node(pubsub, payload)) for _ in range(count)]
            yield [url for url, _ in started], [pid for _, pid in started]
    finally:
        os.environ.pop("SCALING_HISTORY", None)


async def run(args: argparse.Namespace) -> dict[str, list[scaling.Result]]:
    if args.redis:
        pubsub = f"{args.redis_url}{'&' if '?' in args.redis_url else '?'}prefix=bench-history-{uuid.uuid4().hex[:8]}:"
        count = 2
    else:
        pubsub, count = "memory://", 1
    results: dict[str, list[scaling.Result]] = {"plain": [], "history": []}
    for _ in range(args.repeats):
        for name, history in (("plain", 0), ("history", 100)):
            with nodes(pubsub, count, args.payload, history) as (urls, pids):
                results[name].append(await scaling.measure(name, urls, pids, None, args))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=200, help="messages per burst")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per measurement")
    parser.add_argument("--paced", type=int, default=100, help="messages sent one at a time")
    parser.add_argument("--payload", type=int, default=64, help="padding bytes in each message")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each setup, alternating")
    parser.add_argument("--redis", action="store_true", help="two nodes on Redis instead of one in memory")
    parser.add_argument("--redis-url", default=scaling.REDIS_URL)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    where = "2 nodes on Redis" if args.redis else "1 node in memory"
    print(
        f"fan-out with and without history: {where}, {args.subscribers} subscribers, "
        f"{args.repeats} x {args.rounds} bursts of {args.burst}, {args.paced} paced"
    )
    print(f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'setup':<10}{'deliveries/s (each run)':>40}{'median':>12}{'p50 ms':>9}{'node CPU us/delivery':>24}")
    medians, cpu = {}, {}
    for name, runs in results.items():
        rates = [r.deliveries_per_s for r in runs]
        medians[name] = statistics.median(rates)
        cpu[name] = statistics.median([r.cpu_us_per_delivery for r in runs])
        p50 = statistics.median([r.p50 for r in runs])
        print(
            f"{name:<10}{', '.join(f'{x:,.0f}' for x in rates):>40}{medians[name]:>12,.0f}{p50:>9.2f}{cpu[name]:>24.2f}"
        )
    print(f"history / plain throughput: x{medians['history'] / medians['plain']:.3f}")
    print(f"history / plain node CPU per delivery: x{cpu['history'] / cpu['plain']:.3f}")


if __name__ == "__main__":
    main()
