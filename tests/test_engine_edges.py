"""The engine's edges as a client sees them: frame order in a channel, repeated subscribes, what a
leaving or closing subscriber still gets, the inbound bound's accounting, and the errors' texts.

Each test runs in this process (the in-process test client, or the Phoenix wire over it), so a
mutation-testing run sees which engine code it exercised. Gates (asyncio events opened by an
action) hold a handler where a test needs it held: no sleep decides an order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import pytest

from socketapi import Channel, Depends, SocketAPI, on_event
from socketapi.connection import Socket
from socketapi.exceptions import BackendError, FrameError
from socketapi.pubsub import InMemoryBackend, PubSubBackend
from socketapi.testclient import TestClient

calls: list[str] = []
gates: dict[str, asyncio.Event] = {}


def gate(name: str) -> asyncio.Event:
    return gates.setdefault(name, asyncio.Event())


@pytest.fixture(autouse=True)
def fresh() -> None:
    calls.clear()
    gates.clear()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: calls={calls}")
        time.sleep(0.01)


def nickname(socket: Socket) -> str:
    return f"guest of {type(socket).__name__}"


class Ordered(Channel):
    """'slow' waits for its gate; 'fast' answers at once. One subscriber's frames are handled in order."""

    topic = "ordered"
    joins = 0

    async def join(self) -> dict[str, int]:
        Ordered.joins += 1
        return {"joins": Ordered.joins}

    @on_event("slow")
    async def slow(self) -> str:
        try:
            await gate("slow").wait()
        except asyncio.CancelledError:
            calls.append("slow cancelled")
            raise
        return "slow"

    @on_event("fast")
    async def fast(self) -> str:
        return "fast"

    async def leave(self, reason: str) -> None:
        calls.append(f"ordered leave {reason}")


class Deps(Channel):
    """Join and event parameters resolved through a dependency that needs the socket."""

    topic = "deps"

    async def join(self, nick: Annotated[str, Depends(nickname)], n: int = 0) -> dict[str, Any]:
        return {"nick": nick, "n": n}

    @on_event("echo")
    async def echo(self, nick: Annotated[str, Depends(nickname)], n: int) -> dict[str, Any]:
        return {"nick": nick, "n": n}


class LateFail(Channel):
    """Its join waits for a gate, then fails: frames sent meanwhile queue behind it."""

    topic = "late"

    async def join(self) -> None:
        await gate("late").wait()
        raise RuntimeError("late join broke")


class SlowOut(Channel):
    """Intercepts 'say'; the first message's handle_out waits for a gate."""

    topic = "slowout"
    intercept = frozenset({"say"})

    async def handle_out(self, event: str, payload: Any) -> None:
        calls.append(f"handle_out {payload['n']}")
        if payload["n"] == 1:
            await gate("out").wait()
        await self.push(event, payload)


def make_app(**limits: Any) -> SocketAPI:
    made = SocketAPI(**limits)
    made.register(Ordered, Deps, LateFail, SlowOut)

    @made.action("open")
    async def open_gate(name: str) -> None:
        gate(name).set()

    @made.action("say")
    async def say(n: int) -> None:
        await made.broadcast("slowout", {"n": n}, event="say")

    return made


app = make_app()
client = TestClient(app)


def test_a_subscribers_frames_are_handled_in_order_while_one_waits() -> None:
    with client.socket() as ws:
        ws.subscribe("ordered")
        slow, fast = ws.push("ordered", "slow"), ws.push("ordered", "fast")
        ws.call("open", {"name": "slow"})  # an action runs beside the channel, never behind it
        replies = [ws.receive_matching(lambda f: f.get("type") == "reply") for _ in range(2)]
        assert [(r["ref"], r["data"]) for r in replies] == [(slow, "slow"), (fast, "fast")]


def test_a_repeated_subscribe_is_acknowledged_without_joining_again() -> None:
    Ordered.joins = 0
    with client.socket() as ws:
        assert ws.subscribe("ordered") == {"type": "subscribed", "channel": "ordered", "data": {"joins": 1}, "ref": 1}
        assert ws.subscribe("ordered") == {"type": "subscribed", "channel": "ordered", "ref": 2}  # no second join
        assert Ordered.joins == 1
        assert app.subscription_count == 1
    wait_for(lambda: calls == ["ordered leave closed"], "one leave")


def test_a_close_cancels_the_handler_in_progress_then_runs_leave() -> None:
    with client.socket() as ws:
        ws.subscribe("ordered")
        ws.push("ordered", "slow")
        ws.send({"type": "ping", "ref": "p"})
        assert ws.receive() == {"type": "pong", "ref": "p"}
        wait_for(lambda: "slow" in gates, "the handler to wait")
    wait_for(lambda: calls == ["slow cancelled", "ordered leave closed"], "the handler cancelled, then leave")


def test_join_and_event_dependencies_get_the_socket_and_name_the_handler_when_invalid() -> None:
    with client.socket() as ws:
        assert ws.join("deps", {"n": 3}) == {"nick": "guest of Socket", "n": 3}
        ref = ws.push("deps", "echo", {"n": 4})
        assert ws.receive_reply(ref) == {"nick": "guest of Socket", "n": 4}
        ref = ws.push("deps", "echo", {"n": "four"})
        answer = ws.receive_matching(lambda f: f.get("ref") == ref)
        assert (answer["code"], answer["message"]) == ("invalid_params", "Invalid parameters for event 'echo'")
        ws.leave("deps")
        ws.send({"type": "subscribe", "channel": "deps", "data": {"n": "three"}, "ref": "bad"})
        answer = ws.receive_matching(lambda f: f.get("ref") == "bad")
        assert (answer["code"], answer["message"]) == ("invalid_params", "Invalid parameters for action 'deps'")


def test_an_event_queued_behind_a_join_that_fails_is_told_it_is_not_subscribed() -> None:
    with client.socket() as ws:
        ws.send({"type": "subscribe", "channel": "late", "ref": "join"})
        event = ws.push("late", "anything")
        ws.call("open", {"name": "late"})
        failed = ws.receive_matching(lambda f: f.get("ref") == "join")
        assert (failed["code"], failed["message"]) == ("handler_error", "late join broke")
        answer = ws.receive_matching(lambda f: f.get("ref") == event)
        assert answer == {
            "type": "error",
            "message": "Not subscribed to channel 'late'.",
            "ref": event,
            "code": "not_subscribed",
            "channel": "late",
        }


def test_no_intercepted_broadcast_reaches_a_subscriber_once_it_asked_to_leave() -> None:
    with client.socket() as ws, client.socket() as other:
        ws.subscribe("slowout")
        other.call("say", {"n": 1})  # its handle_out waits for the gate ...
        other.call("say", {"n": 2})  # ... and this one waits behind it
        wait_for(lambda: calls == ["handle_out 1"], "the first handle_out")
        ws.send({"type": "unsubscribe", "channel": "slowout", "ref": "u"})
        ws.send({"type": "ping", "ref": "p"})
        assert ws.receive() == {"type": "pong", "ref": "p"}  # the unsubscribe was read
        other.call("open", {"name": "out"})
        assert ws.receive() == {"type": "data", "channel": "slowout", "event": "say", "data": {"n": 1}}
        assert ws.receive() == {"type": "unsubscribed", "channel": "slowout", "ref": "u"}
        assert calls == ["handle_out 1"]  # the second never ran


def test_an_unsubscribe_or_a_close_leaves_nothing_of_the_subscriber_behind() -> None:
    own = make_app()
    with TestClient(own).socket() as ws:
        ws.subscribe("ordered")
        assert own.hub.topics == {"ordered": 1}
        ws.leave("ordered")
        assert own.hub.topics == {}
        (supervisor,) = own.supervisors
        assert not supervisor.joined
        assert not supervisor.leaving
        ws.subscribe("ordered")
        assert own.hub.topics == {"ordered": 1}
    wait_for(lambda: own.hub.topics == {}, "the hub to forget the topic")


def test_unsubscribes_give_back_their_place_under_max_inflight() -> None:
    """max_inflight=2: were an unsubscribe's frame never settled, the third cycle would never be read."""
    with TestClient(make_app(max_inflight=2)).socket() as ws:
        for _ in range(4):
            ws.subscribe("ordered")
            ws.leave("ordered")
        assert ws.call("open", {"name": "x"}) is None


def test_work_no_client_frame_asked_for_frees_no_place_under_max_inflight() -> None:
    """handle_out runs in the mailbox but answers no client frame: it must not count as one settled."""
    bounded = make_app(max_inflight=2)

    @bounded.action("mark")
    async def mark() -> None:
        calls.append("mark")

    with TestClient(bounded) as local, local.socket() as ws, local.socket() as other:
        ws.subscribe("slowout")
        for n in (2, 3, 4):  # three broadcasts through handle_out
            other.call("say", {"n": n})
            assert ws.receive_matching(lambda f: f.get("type") == "data")["data"] == {"n": n}
        ws.subscribe("ordered")
        ws.push("ordered", "slow")  # two frames of unfinished work: the bound is reached
        ws.push("ordered", "slow")
        ws.send({"type": "action", "channel": "mark", "ref": "m"})
        time.sleep(0.3)
        assert "mark" not in calls  # not read while the two wait
        other.call("open", {"name": "slow"})
        assert ws.receive_matching(lambda f: f.get("ref") == "m")["status"] == "completed"
        assert calls.count("mark") == 1


def test_actions_without_a_timeout_give_back_their_place_under_max_inflight() -> None:
    untimed = SocketAPI(max_inflight=2, action_timeout=None)

    @untimed.action("nap")
    async def nap() -> str:
        await asyncio.sleep(0.01)  # it suspends: it runs as a task, counted in flight
        return "rested"

    with TestClient(untimed).socket() as ws:
        assert [ws.call("nap") for _ in range(4)] == ["rested"] * 4


def test_a_timeout_names_the_action_and_the_next_slow_action_times_out_too() -> None:
    timed = SocketAPI(action_timeout=0.2)

    @timed.action("sleep")
    async def sleep(seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    with TestClient(timed).socket() as ws:
        for ref in ("first", "second"):  # the second starts after the first deadline's timer fired
            ws.send({"type": "action", "channel": "sleep", "data": {"seconds": 30}, "ref": ref})
            answer = ws.receive_matching(lambda f: f.get("ref") == ref)  # noqa: B023 - used at once
            assert answer == {
                "type": "error",
                "message": "Action 'sleep' timed out after 0.2s.",
                "ref": ref,
                "code": "timeout",
                "channel": "sleep",
            }


class Blank(Channel):
    """Intercepts the event named by the empty string (a name like any other)."""

    topic = "blank"
    intercept = frozenset({""})

    async def handle_out(self, event: str, payload: Any) -> None:
        await self.push("seen", {"event": event, "payload": payload})


def test_an_intercepted_event_reaches_handle_out_under_its_own_name_even_the_empty_one() -> None:
    blank = SocketAPI()
    blank.register(Blank)

    @blank.action("send")
    async def send() -> None:
        await blank.broadcast("blank", 1, event="")

    with TestClient(blank).socket() as ws:
        ws.subscribe("blank")
        ws.call("send")
        assert ws.receive_push("blank", "seen") == {"event": "", "payload": 1}


class Loud(Channel):
    """A channel with history that intercepts 'say': each subscriber gets it in capitals."""

    topic = "loud"
    history = 10
    intercept = frozenset({"say"})

    async def handle_out(self, event: str, payload: Any) -> None:
        await self.push(event, {"text": payload["text"].upper()})


class Historyless(PubSubBackend):
    """A backend the app knows no history store for."""

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def subscribe(self, topic: str) -> None:
        pass

    async def unsubscribe(self, topic: str) -> None:
        pass

    async def publish(self, topic: str, message: bytes) -> None:
        pass

    def listen(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._nothing()

    async def _nothing(self) -> AsyncIterator[tuple[str, bytes]]:
        await asyncio.Event().wait()
        yield "", b""


def test_a_channel_with_history_intercepts_its_broadcasts_too() -> None:
    loud = SocketAPI()
    loud.register(Loud)

    @loud.action("say")
    async def say(text: str, event: str = "say") -> None:
        await loud.broadcast("loud", {"text": text}, event=event)

    with TestClient(loud).socket() as ws:
        ws.subscribe("loud")
        ws.call("say", {"text": "hi"})
        assert ws.receive_push("loud", "say") == {"text": "HI"}
        ws.call("say", {"text": "as is", "event": "note"})  # not intercepted: the broadcast itself
        note = ws.receive_broadcast("loud", "note")
        assert (note["data"], note["offset"]) == ({"text": "as is"}, 2)


def test_phoenix_a_repeated_join_whose_history_read_fails_is_answered_under_its_join_ref(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loud = SocketAPI()
    loud.register(Loud)
    with TestClient(loud) as local, local.socket(PHOENIX) as ws:
        receive: Callable[[], Any] = ws.receive
        ws.websocket.send_text(json.dumps(["1", "1", "loud", "phx_join", {}]))
        assert receive()[:4] == ["1", "1", "loud", "phx_reply"]

        async def unreachable(*args: Any, **kwargs: Any) -> Any:
            raise BackendError("history unreachable")

        assert loud.history is not None
        monkeypatch.setattr(loud.history, "read", unreachable)
        ws.websocket.send_text(json.dumps(["1", "2", "loud", "phx_join", {}]))  # the same join, again
        assert receive() == [
            "1",
            "2",
            "loud",
            "phx_reply",
            {"status": "error", "response": {"reason": "history unreachable"}},
        ]


def test_a_channel_with_history_on_a_backend_that_keeps_none_is_refused_with_the_reason() -> None:
    bare = SocketAPI(pubsub=Historyless())
    bare.register(Loud)
    with TestClient(bare).socket() as ws:
        ws.send({"type": "subscribe", "channel": "loud", "ref": 1})
        answer = ws.receive_matching(lambda f: f.get("ref") == 1)
        assert answer["message"] == (
            "The pub/sub backend Historyless keeps no history; "
            "channels with history need InMemoryBackend or RedisBackend"
        )


# -- presence, from a channel that has it and from one that does not ---------------------------------


class Room(Channel):
    topic = "room"
    presence = True

    async def join(self, user: str) -> None:
        await self.track(user, {})

    @on_event("hide")
    async def hide(self) -> bool:
        await self.untrack()
        return True

    @on_event("away")
    async def away(self, status: str) -> str:
        return await self.update({"status": status})


class Lobby(Channel):
    topic = "lobby"

    @on_event("track")
    async def track_here(self) -> str:
        return await self.track("ann", {})


def test_untrack_takes_the_subscriber_out_of_presence_and_a_channel_without_it_cannot_track() -> None:
    present = SocketAPI()
    present.register(Room, Lobby)
    with TestClient(present) as local, local.socket() as ann, local.socket() as bob:
        ann.join("room", {"user": "ann"})
        bob.join("room", {"user": "bob"})
        bob.presence("room", until=lambda state: sorted(state) == ["ann", "bob"])
        assert ann.receive_reply(ann.push("room", "hide")) is True
        assert sorted(bob.presence("room", until=lambda state: "ann" not in state)) == ["bob"]
        bob.receive_reply(bob.push("room", "away", {"status": "out"}))
        state = ann.presence("room", until=lambda state: "bob" in state and "status" in state["bob"]["metas"][0])
        assert state["bob"]["metas"][0]["status"] == "out"
        bob.leave("room")  # leaving takes bob out of presence
        assert ann.presence("room", until=lambda state: "bob" not in state) == {}
        ann.join("lobby")
        ref = ann.push("lobby", "track")
        answer = ann.receive_matching(lambda f: f.get("ref") == ref)
        assert answer["message"] == "Lobby has no presence; set `presence = True` on the class to track"


# -- the Phoenix wire: errors without a ref still name their topic ------------------------------------

PHOENIX = "/socket/websocket?vsn=2.0.0"


class Crashing(Channel):
    """Intercepts 'crash' and fails in handle_out; its leave fails too."""

    topic = "crashing"
    intercept = frozenset({"crash"})

    async def handle_out(self, event: str, payload: Any) -> None:
        raise RuntimeError("handle_out broke")

    @on_event("crash")
    async def crash(self) -> None:
        await self.broadcast("crash", {})

    @on_event("unencodable")
    async def unencodable(self) -> None:
        raise FrameError("Custom failure.", data={"bad": object()})

    async def leave(self, reason: str) -> None:
        raise RuntimeError("leave broke")


def test_phoenix_errors_of_handle_out_and_leave_go_to_the_channels_topic() -> None:
    phoenix = SocketAPI()
    phoenix.register(Crashing)
    with TestClient(phoenix) as local, local.socket(PHOENIX) as ws:
        receive: Callable[[], Any] = ws.receive
        ws.websocket.send_text(json.dumps(["1", "1", "crashing", "phx_join", {}]))
        assert receive() == ["1", "1", "crashing", "phx_reply", {"status": "ok", "response": {}}]
        ws.websocket.send_text(json.dumps(["1", "2", "crashing", "crash", {}]))
        assert receive() == ["1", None, "crashing", "error", {"reason": "handle_out broke"}]
        ws.websocket.send_text(json.dumps(["1", "9", "crashing", "unencodable", {}]))
        assert receive() == [  # its data cannot be encoded: the fallback frame still names the join
            "1",
            "9",
            "crashing",
            "phx_reply",
            {"status": "error", "response": {"reason": "Custom failure."}},
        ]
        ws.websocket.send_text(json.dumps(["1", "3", "crashing", "phx_leave", {}]))
        errors: Any = ws.receive_matching(lambda f: f[3] == "error")  # type: ignore[index]
        assert errors == ["1", None, "crashing", "error", {"reason": "leave broke"}]


class Rejoined(Channel):
    topic = "rejoined"

    async def join(self) -> dict[str, int]:
        calls.append("join")
        return {"joins": calls.count("join")}

    async def leave(self, reason: str) -> None:
        calls.append(f"leave {reason}")


def test_phoenix_joining_a_joined_topic_again_ends_the_old_join_first() -> None:
    phoenix = SocketAPI()
    phoenix.register(Rejoined)
    with TestClient(phoenix) as local, local.socket(PHOENIX) as ws:
        receive: Callable[[], Any] = ws.receive
        ws.websocket.send_text(json.dumps(["1", "1", "rejoined", "phx_join", {}]))
        assert receive() == ["1", "1", "rejoined", "phx_reply", {"status": "ok", "response": {"joins": 1}}]
        ws.websocket.send_text(json.dumps(["2", "2", "rejoined", "phx_join", {}]))  # a new join_ref
        answer: Any = ws.receive_matching(lambda f: f[1] == "2")  # type: ignore[index]
        assert answer == ["2", "2", "rejoined", "phx_reply", {"status": "ok", "response": {"joins": 2}}]
        assert calls == ["join", "leave left", "join"]  # the old leave ran before the new join


class Held(Channel):
    """Its 'hold' event waits for the 'held' gate: the join's mailbox stays busy meanwhile."""

    topic = "held"

    @on_event("hold")
    async def hold(self) -> str:
        await gate("held").wait()
        return "held"

    async def leave(self, reason: str) -> None:
        calls.append(f"held leave {reason}")


def test_phoenix_a_broadcast_during_a_rejoin_does_not_reach_the_old_join() -> None:
    """From the rejoin frame on, the old join gets no broadcast, even while its leave waits its turn."""
    phoenix = SocketAPI()
    phoenix.register(Held)

    @phoenix.action("news")
    async def news(n: int) -> None:
        await phoenix.broadcast("held", {"n": n}, event="news")

    @phoenix.action("open")
    async def open_gate(name: str) -> None:
        gate(name).set()

    with TestClient(phoenix) as local, local.socket(PHOENIX) as ws, local.socket() as other:

        def send(frame: list[Any]) -> None:
            ws.websocket.send_text(json.dumps(frame))

        receive: Callable[[], Any] = ws.receive
        send(["1", "1", "held", "phx_join", {}])
        assert receive() == ["1", "1", "held", "phx_reply", {"status": "ok", "response": {}}]
        send(["1", "2", "held", "hold", {}])  # the old join's mailbox is busy from here on
        send(["2", "3", "held", "phx_join", {}])  # the rejoin: the old leave waits behind 'hold'
        send([None, "4", "phoenix", "heartbeat", {}])  # answered once the rejoin frame was read
        seen: list[Any] = [ws.receive_matching(lambda f: f[1] == "4")]  # type: ignore[index]
        other.call("news", {"n": 1})  # delivered now, while the old join is still subscribed
        other.call("open", {"name": "held"})
        seen.append(ws.receive_matching(lambda f: f[1] == "3"))  # type: ignore[index]
        assert seen[-1] == ["2", "3", "held", "phx_reply", {"status": "ok", "response": {}}]
        other.call("news", {"n": 2})
        while (frame := receive())[3] != "news":
            seen.append(frame)
        assert frame == [None, None, "held", "news", {"n": 2}]  # the first broadcast reached nobody
        assert [f for f in seen if f[3] == "news"] == []
        assert calls == ["held leave left"]


# -- the shutdown deadline, in this process ----------------------------------------------------------


class SlowLeave(Channel):
    """Its leave takes a minute unless cancelled."""

    topic = "slow"

    async def leave(self, reason: str) -> None:
        calls.append(f"leave {reason}")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            calls.append("leave cancelled")
            raise


def test_a_shutdown_cancels_the_leave_hooks_still_running_at_its_deadline() -> None:
    """``await app.shutdown()`` returns past ``shutdown_timeout`` with the slow hook cancelled, not left running."""
    stopping = SocketAPI(shutdown_timeout=0.2)
    stopping.register(SlowLeave, Ordered)
    with TestClient(stopping) as local, local.socket() as ws, local.socket() as other:
        ws.subscribe("slow")
        other.subscribe("ordered")
        assert local.portal is not None
        local.portal.call(stopping.shutdown)
        assert sorted(calls) == ["leave cancelled", "leave shutdown", "ordered leave shutdown"]


def test_phoenix_leaving_a_topic_never_joined_is_answered_with_its_join_ref() -> None:
    with TestClient(SocketAPI()) as local, local.socket(PHOENIX) as ws:
        receive: Callable[[], Any] = ws.receive
        ws.websocket.send_text(json.dumps(["7", "8", "room:never", "phx_leave", {}]))
        assert receive() == ["7", "8", "room:never", "phx_reply", {"status": "ok", "response": {}}]


def test_an_action_that_never_waits_is_answered_once() -> None:
    with client.socket() as ws:
        assert ws.call("open", {"name": "nothing"}) is None
        ws.send({"type": "ping", "ref": "p"})
        assert ws.receive() == {"type": "pong", "ref": "p"}  # the answer, and nothing after it


def test_a_subscribe_past_max_channels_is_told_the_limit_on_both_wires() -> None:
    limited = SocketAPI(max_channels=1)
    limited.register(Ordered, Deps)
    with TestClient(limited) as local, local.socket() as ws, local.socket(PHOENIX) as phx:
        ws.subscribe("ordered")
        ws.send({"type": "subscribe", "channel": "deps", "ref": "over"})
        assert ws.receive_matching(lambda f: f.get("ref") == "over") == {
            "type": "error",
            "message": "Too many channels joined; the limit is 1.",
            "ref": "over",
            "code": "too_many_channels",
            "channel": "deps",
        }
        receive: Callable[[], Any] = phx.receive
        phx.websocket.send_text(json.dumps(["1", "1", "ordered", "phx_join", {}]))
        assert receive()[4]["status"] == "ok"
        phx.websocket.send_text(json.dumps(["2", "2", "deps", "phx_join", {}]))
        assert receive() == [
            "2",
            "2",
            "deps",
            "phx_reply",
            {"status": "error", "response": {"reason": "Too many channels joined; the limit is 1."}},
        ]


def test_since_on_a_channel_without_history_keeps_the_join_reply() -> None:
    Ordered.joins = 0
    with client.socket() as ws:
        answer = ws.subscribe("ordered", since={"offset": 3, "epoch": "e"})
        assert answer == {
            "type": "subscribed",
            "channel": "ordered",
            "data": {"joins": 1},
            "recovered": False,
            "ref": 1,
        }


class Refused(Channel):
    topic = "refused"


class RefusingBroker(InMemoryBackend):
    async def subscribe(self, topic: str) -> None:
        raise BackendError(f"the broker refused {topic}")


def test_phoenix_presence_state_and_a_backend_refusal_answer_the_join_they_belong_to() -> None:
    phoenix = SocketAPI(pubsub=RefusingBroker())
    phoenix.register(Refused)
    with TestClient(phoenix) as local, local.socket(PHOENIX) as ws:
        receive: Callable[[], Any] = ws.receive
        ws.websocket.send_text(json.dumps(["3", "4", "refused", "phx_join", {}]))
        assert receive() == [
            "3",
            "4",
            "refused",
            "phx_reply",
            {"status": "error", "response": {"reason": "the broker refused refused"}},
        ]
    present = SocketAPI()
    present.register(Room)
    with TestClient(present) as local, local.socket(PHOENIX) as ann, local.socket(PHOENIX) as bob:
        ann.websocket.send_text(json.dumps(["1", "1", "room", "phx_join", {"user": "ann"}]))
        assert ann.receive_matching(lambda f: f[3] == "presence_state")[:2] == ["1", None]  # type: ignore[index]
        ann.receive_matching(lambda f: f[3] == "presence_diff")  # type: ignore[index]  # ann is tracked
        bob.websocket.send_text(json.dumps(["5", "6", "room", "phx_join", {"user": "bob"}]))
        state: Any = bob.receive_matching(lambda f: f[3] == "presence_state")  # type: ignore[index]
        assert state[:4] == ["5", None, "room", "presence_state"]
        assert "ann" in state[4]  # who was there before bob
