"""Presence on one node (SPEC 7.2): Phoenix's frames, tracking from a channel, coalesced diffs."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from socketapi import Channel, ImproperlyConfigured, SocketAPI, on_event
from socketapi.presence import sync_diff, sync_state
from socketapi.testclient import ErrorFrameReceived, TestClient
from tests.ci import unavailable
from tests.support import ROOT


class Room(Channel):
    topic = "room:{room_id}"
    presence = True

    async def join(self, room_id: str, user: str, device: str = "web") -> None:
        await self.track(user, {"device": device})

    @on_event("away")
    async def away(self, status: str) -> str:
        return await self.update({"status": status})

    @on_event("hide")
    async def hide(self) -> bool:
        await self.untrack()
        return True

    @on_event("track")
    async def track_raw(self, key: Any, meta: Any = None) -> str:
        return await self.track(key, meta)


class Lobby(Channel):
    """No presence: tracking here is a programming error the client hears about."""

    topic = "lobby"

    @on_event("track")
    async def track_here(self) -> str:
        return await self.track("ann", {})


def make_app() -> SocketAPI:
    app = SocketAPI()
    app.register(Room, Lobby)
    return app


@pytest.fixture
def app() -> SocketAPI:
    return make_app()


@pytest.fixture
def client(app: SocketAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def metas(state: dict[str, Any], key: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = state[key]["metas"]
    return result


def test_presence_state_follows_subscribed_with_phoenix_shapes(client: TestClient) -> None:
    with client.socket() as bob:
        bob.join("room:1", {"user": "bob"})
        bob.presence("room:1", until=lambda s: "bob" in s)
        with client.socket() as ann:
            ann.send({"type": "subscribe", "channel": "room:1", "data": {"user": "ann"}, "ref": 1})
            assert ann.receive() == {"type": "subscribed", "channel": "room:1", "ref": 1}
            state_frame = ann.receive()
            assert state_frame["type"] == "data"
            assert state_frame["event"] == "presence_state"
            assert state_frame["channel"] == "room:1"
            assert "offset" not in state_frame  # presence frames carry no offset
            (bob_meta,) = metas(state_frame["data"], "bob")
            assert set(bob_meta) == {"device", "phx_ref"}
            assert bob_meta["device"] == "web"
            assert isinstance(bob_meta["phx_ref"], str)
            assert bob_meta["phx_ref"]
            # ann's own join comes in the next diff, as Phoenix sends it
            diff = ann.receive_presence_diff("room:1")
            (ann_meta,) = metas(diff["joins"], "ann")
            assert diff == {
                "joins": {"ann": {"metas": [{"device": "web", "phx_ref": ann_meta["phx_ref"]}]}},
                "leaves": {},
            }
            assert ann_meta["phx_ref"] != bob_meta["phx_ref"]
            assert bob.receive_presence_diff("room:1") == diff


def test_joins_and_leaves_reach_every_subscriber(client: TestClient, app: SocketAPI) -> None:
    with client.socket() as ann:
        ann.join("room:1", {"user": "ann"})
        ann.presence("room:1", until=lambda s: "ann" in s)
        with client.socket() as bob:
            bob.join("room:1", {"user": "bob"})
            assert list(bob.receive_presence_state("room:1")) == ["ann"]
            assert sorted(bob.presence("room:1", until=lambda s: "bob" in s)) == ["ann", "bob"]
            ann.presence("room:1", until=lambda s: sorted(s) == ["ann", "bob"])
            assert "bob" in ann.presence_log[-1]["data"]["joins"]
            assert sorted(app.presence.list("room:1")) == ["ann", "bob"]
            bob.leave("room:1")  # unsubscribing untracks
            diff = ann.receive_presence_diff("room:1")
            assert diff["joins"] == {}
            assert list(diff["leaves"]) == ["bob"]
            bob.join("room:1", {"user": "bob"})
            ann.presence("room:1", until=lambda s: "bob" in s)
        # bob's socket closed without unsubscribing: its entry leaves all the same
        assert ann.presence("room:1", until=lambda s: "bob" not in s) == app.presence.list("room:1")
        assert list(app.presence.list("room:1")) == ["ann"]


def test_one_key_has_a_meta_per_subscriber(client: TestClient, app: SocketAPI) -> None:
    with client.socket() as phone, client.socket() as laptop:
        phone.join("room:1", {"user": "ann", "device": "phone"})
        laptop.join("room:1", {"user": "ann", "device": "laptop"})
        state = phone.presence("room:1", until=lambda s: len(s.get("ann", {}).get("metas", [])) == 2)
        assert sorted(m["device"] for m in metas(state, "ann")) == ["laptop", "phone"]
        assert len({m["phx_ref"] for m in metas(state, "ann")}) == 2
        laptop.leave("room:1")
        state = phone.presence("room:1", until=lambda s: len(s["ann"]["metas"]) == 1)
        assert [m["device"] for m in metas(state, "ann")] == ["phone"]
        assert [m["device"] for m in metas(app.presence.list("room:1"), "ann")] == ["phone"]


def test_update_is_a_leave_of_the_old_ref_and_a_join_with_phx_ref_prev(client: TestClient) -> None:
    with client.socket() as ann:
        ann.join("room:1", {"user": "ann"})
        assert ann.receive_presence_state("room:1") == {}
        (old,) = metas(ann.receive_presence_diff("room:1")["joins"], "ann")
        new_ref = ann.receive_reply(ann.push("room:1", "away", {"status": "lunch"}))
        diff = ann.receive_presence_diff("room:1")
        assert diff == {
            "joins": {"ann": {"metas": [{"status": "lunch", "phx_ref": new_ref, "phx_ref_prev": old["phx_ref"]}]}},
            "leaves": {"ann": {"metas": [old]}},
        }
        assert metas(ann.presence("room:1"), "ann") == [
            {"status": "lunch", "phx_ref": new_ref, "phx_ref_prev": old["phx_ref"]}
        ]


def test_untrack_leaves_and_the_subscriber_stays(client: TestClient) -> None:
    with client.socket() as ann, client.socket() as bob:
        ann.join("room:1", {"user": "ann"})
        bob.join("room:1", {"user": "bob"})
        ann.presence("room:1", until=lambda s: sorted(s) == ["ann", "bob"])
        assert bob.receive_reply(bob.push("room:1", "hide")) is True
        assert ann.presence("room:1", until=lambda s: "bob" not in s) == {"ann": ann.presence("room:1")["ann"]}
        ref = bob.receive_reply(bob.push("room:1", "track", {"key": "bob", "meta": {"back": True}}))
        state = ann.presence("room:1", until=lambda s: "bob" in s)
        assert metas(state, "bob") == [{"back": True, "phx_ref": ref}]


def test_tracking_again_replaces_the_entry(client: TestClient, app: SocketAPI) -> None:
    with client.socket() as ann:
        ann.join("room:1", {"user": "ann"})
        ann.receive_reply(ann.push("room:1", "track", {"key": "anne", "meta": {}}))
        assert list(ann.presence("room:1", until=lambda s: list(s) == ["anne"])) == ["anne"]
        assert list(app.presence.list("room:1")) == ["anne"]


def test_bad_keys_and_metas_answer_an_error_and_the_socket_carries_on(client: TestClient) -> None:
    with client.socket() as ann, client.socket() as bob:
        ann.join("room:1", {"user": "ann"})
        bob.join("room:1", {"user": "bob"})
        for key, meta in ((["not", "a", "key"], {}), (None, {}), ("ann", [1, 2]), ("ann", "meta")):
            with pytest.raises(ErrorFrameReceived) as error:
                ann.receive_reply(ann.push("room:1", "track", {"key": key, "meta": meta}))
            assert error.value.code == "handler_error"
            assert "presence" in error.value.message.lower()
        assert sorted(ann.presence("room:1", until=lambda s: sorted(s) == ["ann", "bob"])) == ["ann", "bob"]
        ann.receive_reply(ann.push("room:1", "away", {"status": "still here"}))
        bob.presence("room:1", until=lambda s: s.get("ann", {"metas": [{}]})["metas"][0].get("status") == "still here")


def test_tracking_on_a_channel_without_presence_is_an_error_frame(client: TestClient) -> None:
    with client.socket() as ann:
        ann.join("lobby")
        with pytest.raises(ErrorFrameReceived) as error:
            ann.receive_reply(ann.push("lobby", "track"))
        assert "presence = True" in error.value.message
        assert not any(f.get("event", "").startswith("presence") for f in ann.pending)
        ann.join("room:1", {"user": "ann"})  # the socket carries on
        assert "ann" in ann.presence("room:1", until=lambda s: "ann" in s)


def test_a_join_storm_costs_each_subscriber_a_few_diff_frames(app: SocketAPI) -> None:
    app.presence.configure(window=0.5)  # wide enough that a slow machine still coalesces
    with TestClient(app) as client, client.socket() as watcher:
        watcher.join("room:storm", {"user": "watcher"})
        watcher.presence("room:storm", until=lambda s: "watcher" in s)
        with contextlib.ExitStack() as stack:
            members = [stack.enter_context(client.socket()) for _ in range(40)]
            for i, member in enumerate(members):
                member.send({"type": "subscribe", "channel": "room:storm", "data": {"user": f"u{i}"}})
            state = watcher.presence("room:storm", until=lambda s: len(s) == 41)
            assert state == app.presence.list("room:storm")
            diffs = [f for f in watcher.presence_log if f["event"] == "presence_diff"]
            assert sum(len(f["data"]["joins"]) for f in diffs) == 41  # every join, none twice
            assert len(diffs) <= 10, len(diffs)  # 41 joins; Phoenix would send 41 frames


def test_a_join_and_a_leave_inside_one_window_cancel_out(app: SocketAPI) -> None:
    app.presence.configure(window=0.3)
    with TestClient(app) as client, client.socket() as ann:
        ann.join("room:1", {"user": "ann"})
        ann.presence("room:1", until=lambda s: "ann" in s)
        with client.socket() as ghost:
            ghost.join("room:1", {"user": "ghost"})
            ghost.leave("room:1")
        ann.receive_reply(ann.push("room:1", "away", {"status": "back"}))
        diff = ann.receive_presence_diff("room:1")
        assert "ghost" not in diff["joins"], diff
        assert "ghost" not in diff["leaves"], diff
        assert list(diff["joins"]) == ["ann"]


def test_list_from_any_code(app: SocketAPI) -> None:
    @app.action("who")
    async def who(room: str) -> list[str]:
        return sorted(app.presence.list(f"room:{room}"))

    with TestClient(app) as client, client.socket() as ann:
        assert ann.call("who", {"room": "1"}) == []
        ann.join("room:1", {"user": "ann"})
        assert ann.call("who", {"room": "1"}) == ["ann"]
        assert ann.call("who", {"room": "2"}) == []


def test_presence_needs_a_boolean() -> None:
    class Odd(Channel):
        topic = "odd"
        presence = "yes"  # type: ignore[assignment]

    with pytest.raises(ImproperlyConfigured, match="presence must be True or False"):
        SocketAPI().register(Odd)


def test_timings_are_checked() -> None:
    presence = SocketAPI().presence
    with pytest.raises(ValueError, match="at most 30"):
        presence.configure(timeout=31)
    with pytest.raises(ValueError, match="longer than the heartbeat"):
        presence.configure(heartbeat=5, timeout=4)
    presence.configure(window=0.01, heartbeat=0.5, timeout=2)
    assert (presence.window, presence.heartbeat, presence.timeout) == (0.01, 0.5, 2)


def test_sync_follows_phoenix_js() -> None:
    """Our Python sync and phoenix.js's own Presence agree on a sequence of real frames."""
    app = make_app()
    frames: list[dict[str, Any]] = []
    with TestClient(app) as client, client.socket() as watcher:
        watcher.join("room:9", {"user": "watcher"})
        with client.socket() as a, client.socket() as b:
            a.join("room:9", {"user": "ann", "device": "phone"})
            b.join("room:9", {"user": "ann", "device": "laptop"})
            watcher.presence("room:9", until=lambda s: len(s.get("ann", {}).get("metas", [])) == 2)
            a.receive_reply(a.push("room:9", "away", {"status": "busy"}))
            watcher.presence("room:9", until=lambda s: any("status" in m for m in s["ann"]["metas"]))
        final = watcher.presence("room:9", until=lambda s: "ann" not in s)
        frames = watcher.presence_log
    assert final == {"watcher": final["watcher"]}
    state: dict[str, Any] = {}
    for frame in frames:
        state = (
            sync_state(state, frame["data"]) if frame["event"] == "presence_state" else sync_diff(state, frame["data"])
        )
    assert state == final
    _check_with_phoenix_js(frames, final)


def _check_with_phoenix_js(frames: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "phoenix").is_dir():
        unavailable("node or node_modules/phoenix is missing (npm ci)")
    script = (
        "import { Presence } from 'phoenix';\n"
        "const frames = JSON.parse(process.argv[1]);\n"
        "let state = {};\n"
        "for (const f of frames) {\n"
        "  const sync = f.event === 'presence_state' ? Presence.syncState : Presence.syncDiff;\n"
        "  state = sync.call(Presence, state, f.data);\n"
        "}\n"
        "process.stdout.write(JSON.stringify(state));\n"
    )
    result = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(frames)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_presence_works_when_each_socket_runs_on_its_own_event_loop() -> None:
    """Without ``with TestClient(app)``, each test socket has its own loop and thread: a closing
    socket's teardown may be cut short, and its entry must leave all the same."""
    client = TestClient(make_app())
    with client.socket() as ann:
        ann.join("room:1", {"user": "ann"})
        with client.socket() as bob:
            bob.join("room:1", {"user": "bob"})
            ann.presence("room:1", until=lambda s: set(s) == {"ann", "bob"})
        assert list(ann.presence("room:1", until=lambda s: "bob" not in s)) == ["ann"]
    with client.socket() as carl:  # the first socket's loop is gone: presence carries on here
        carl.join("room:1", {"user": "carl"})
        assert list(carl.presence("room:1", until=lambda s: "carl" in s)) == ["carl"]
