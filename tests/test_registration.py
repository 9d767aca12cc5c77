"""Mistakes in declarations fail when they are registered, with a message naming the fix."""

from __future__ import annotations

from typing import Any

import pytest

import socketapi
from socketapi import Action, Channel, ImproperlyConfigured, Router, SocketAPI, params
from socketapi.testclient import TestClient


def test_duplicate_action_name() -> None:
    app = SocketAPI()

    @app.action("a")
    async def first() -> None: ...

    with pytest.raises(ImproperlyConfigured, match="Action 'a' is already registered"):

        @app.action("a")
        async def second() -> None: ...


def test_duplicate_channel_pattern_across_routers() -> None:
    app, router = SocketAPI(), Router()

    @app.channel("c")
    async def first() -> None: ...

    @router.channel("c")
    async def second() -> None: ...

    with pytest.raises(ImproperlyConfigured, match="Channel 'c' is already registered"):
        app.include_router(router)


def test_sync_handler_is_refused() -> None:
    app = SocketAPI()
    with pytest.raises(ImproperlyConfigured, match="must be an `async def`"):
        app.action("sync")(lambda: 1)  # type: ignore[arg-type, return-value]


def test_channel_function_must_accept_its_topic_parameters() -> None:
    app = SocketAPI()
    with pytest.raises(ImproperlyConfigured, match="must accept 'room_id'"):

        @app.channel("rooms/{room_id}")
        async def room(text: str = "") -> str:
            return text


@pytest.mark.parametrize("topic", ["room:{", "room:}", "room:{1x}", "{a}/{a}", ""])
def test_bad_topic_patterns(topic: str) -> None:
    class Bad(Channel):
        pass

    Bad.topic = topic
    with pytest.raises(ImproperlyConfigured):
        SocketAPI().register(Bad)


def test_channel_without_topic_and_action_without_handle() -> None:
    class NoTopic(Channel):
        pass

    class NoHandle(Action):
        name = "x"

    class NoName(Action):
        async def handle(self) -> None: ...

    app = SocketAPI()
    with pytest.raises(ImproperlyConfigured, match="needs a `topic`"):
        app.register(NoTopic)
    with pytest.raises(ImproperlyConfigured, match="must define `async def handle"):
        app.register(NoHandle)
    with pytest.raises(ImproperlyConfigured, match="needs a non-empty `name`"):
        app.register(NoName)
    with pytest.raises(ImproperlyConfigured, match="takes Channel or Action subclasses"):
        app.register(int)  # type: ignore[arg-type]


def test_unresolvable_annotation_fails_at_registration() -> None:
    app = SocketAPI()

    async def handler(x: Undefined) -> None:  # type: ignore[name-defined]  # noqa: F821
        ...

    handler.__annotations__["x"] = "Undefined"
    with pytest.raises(ImproperlyConfigured, match="Cannot resolve the annotations"):
        app.action("h")(handler)


def test_validators_are_compiled_at_registration_never_per_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    app = SocketAPI()

    @app.action("add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.channel("rooms/{room_id}", default_response=True)
    async def room(room_id: int) -> int:
        return room_id

    compiled: list[Any] = []
    original = params.compile_signature
    monkeypatch.setattr(params, "compile_signature", lambda *a, **k: compiled.append(a) or original(*a, **k))
    monkeypatch.setattr(params, "TypeAdapter", lambda *a, **k: compiled.append(a))
    with TestClient(app).socket() as socket:
        for i in range(20):
            assert socket.call("add", {"a": i, "b": 1}) == i + 1
            socket.join(f"rooms/{i}")
    assert compiled == []


def test_public_names_are_one_sorted_list() -> None:
    public = {name for name in vars(socketapi) if name[0].isupper()} | {"on_event"}
    assert socketapi.__all__ == sorted(socketapi.__all__)
    assert set(socketapi.__all__) >= {
        "SocketAPI",
        "Router",
        "Depends",
        "RequiredOnSubscribe",
        "Channel",
        "Action",
        "on_event",
        "JoinRefused",
    }
    for name in socketapi.__all__:
        assert hasattr(socketapi, name), name
    assert public <= set(socketapi.__all__)
