#!/usr/bin/env python3
"""What describing an app costs: building the AsyncAPI document once, then serving it.

    python bench/schema.py [--actions 200] [--channels 50]

Registers a synthetic app (actions with models, nested models and dependencies; class channels
with events), then times, in this process: ``describe`` + ``asyncapi_document`` (the build),
the page, the TypeScript module, the first ``GET /asyncapi.json`` (builds) and later ones
(cached). Prints medians and ratios from one run; the machine may be shared, so read the
ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field
from starlette.testclient import TestClient

from socketapi import Channel, Depends, SocketAPI, on_event
from socketapi.schema import asyncapi_document, asyncapi_html, describe, typescript_module


class Line(BaseModel):
    name: str = Field(min_length=1)
    qty: int = 1


class Order(BaseModel):
    lines: list[Line]
    note: str | None = None


async def user(token: str) -> str:
    return token


def build_app(actions: int, channels: int) -> SocketAPI:
    app = SocketAPI()
    for i in range(actions):

        async def handler(order: Order, who: Annotated[str, Depends(user)], express: bool = False) -> Order:
            return order

        app.action(f"action_{i}")(handler)
    for i in range(channels):
        cls: type[Channel] = type(
            f"Room{i}",
            (Channel,),
            {
                "topic": f"room{i}:{{room_id}}",
                "join": _join,
                "say": on_event("say")(_say),
            },
        )
        app.register(cls)
    return app


async def _join(self: Channel, room_id: int, nick: str) -> dict[str, Any]:
    return {}


async def _say(self: Channel, text: str, order: Order | None = None) -> Line:
    return Line(name=text)


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=200)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    app = build_app(args.actions, args.channels)
    document = asyncapi_document(describe(app.endpoints))
    build = timed(lambda: asyncapi_document(describe(app.endpoints)), args.repeat)
    page = timed(lambda: asyncapi_html(document), args.repeat)
    typescript = timed(lambda: typescript_module(describe(app.endpoints)), args.repeat)
    client = TestClient(app)
    start = time.perf_counter()
    first = client.get("/asyncapi.json")
    first_request = time.perf_counter() - start
    cached = timed(lambda: client.get("/asyncapi.json"), args.repeat * 10)
    print(f"app: {args.actions} actions, {args.channels} channels; document {len(first.content) / 1e6:.1f} MB")
    print(f"build (describe + document): {build * 1e3:8.1f} ms")
    print(f"page from the document:      {page * 1e3:8.1f} ms  ({page / build:.2f}x the build)")
    print(f"TypeScript module:           {typescript * 1e3:8.1f} ms  ({typescript / build:.2f}x the build)")
    print(f"first GET /asyncapi.json:    {first_request * 1e3:8.1f} ms  (builds the document and the page)")
    print(f"later GET /asyncapi.json:    {cached * 1e3:8.1f} ms  (cached: {first_request / cached:.0f}x faster)")


if __name__ == "__main__":
    main()
