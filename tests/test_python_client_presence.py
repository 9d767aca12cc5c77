"""socketapi.client.Presence on plain data: phoenix.js semantics, step by step the same as socketapi.js's."""

from __future__ import annotations

import json
import random
from typing import Any

from socketapi.client import Presence
from tests.scripted_link import join, reconnect, settle, setup
from tests.tools import require, run


def meta(ref: str, **extra: Any) -> dict[str, Any]:
    return {"phx_ref": ref, **extra}


def test_sync_state_reports_joins_and_leaves_by_key_and_phx_ref() -> None:
    calls: list[tuple[str, str, Any, Any]] = []
    before = {"ann": {"metas": [meta("1")]}, "bob": {"metas": [meta("2")]}}
    new = {"ann": {"metas": [meta("1"), meta("3")]}, "cat": {"metas": [meta("4")]}}
    state = Presence.sync_state(
        before,
        new,
        lambda key, current, joined: calls.append(("join", key, current, joined)),
        lambda key, current, left: calls.append(("leave", key, current, left)),
    )
    assert state == {"ann": {"metas": [meta("1"), meta("3")]}, "cat": {"metas": [meta("4")]}}
    assert calls == [
        ("join", "ann", {"metas": [meta("1")]}, {"metas": [meta("3")]}),
        ("join", "cat", None, {"metas": [meta("4")]}),
        ("leave", "bob", {"metas": []}, {"metas": [meta("2")]}),
    ]
    assert before == {"ann": {"metas": [meta("1")]}, "bob": {"metas": [meta("2")]}}, "input left alone"


def test_sync_diff_two_tabs_then_leaves() -> None:
    state = Presence.sync_diff({}, {"joins": {"ann": {"metas": [meta("1", tab=1)]}}, "leaves": {}})
    state = Presence.sync_diff(state, {"joins": {"ann": {"metas": [meta("2", tab=2)]}}, "leaves": {}})
    assert [m["tab"] for m in state["ann"]["metas"]] == [1, 2]
    state = Presence.sync_diff(state, {"joins": {}, "leaves": {"ann": {"metas": [meta("1")]}}})
    assert state == {"ann": {"metas": [meta("2", tab=2)]}}
    state = Presence.sync_diff(state, {"joins": {}, "leaves": {"ann": {"metas": [meta("2")]}, "x": {"metas": []}}})
    assert state == {}
    assert Presence.list_of({"a": {"metas": [meta("1")]}}, lambda key, entry: (key, len(entry["metas"]))) == [("a", 1)]


def test_the_same_steps_give_the_same_states_as_socketapi_js() -> None:
    """300 random joins, leaves and full states, applied here and by socketapi.js under node."""
    node = require("node", "Node 20+ runs socketapi.js")
    rng = random.Random(7)
    steps: list[dict[str, Any]] = []
    live: list[tuple[str, str]] = []
    for i in range(300):
        if i % 50 == 49:
            state: dict[str, Any] = {}
            for key, ref in live:
                state.setdefault(key, {"metas": []})["metas"].append(meta(ref))
            steps.append({"state": state})
        elif live and rng.random() < 0.5:
            key, ref = live.pop(rng.randrange(len(live)))
            steps.append({"diff": {"joins": {}, "leaves": {key: {"metas": [meta(ref)]}}}})
        else:
            key, ref = rng.choice("abc"), str(i)
            live.append((key, ref))
            steps.append({"diff": {"joins": {key: {"metas": [meta(ref, n=i)]}}, "leaves": {}}})

    ours: list[dict[str, Any]] = []
    state = {}
    for step in steps:
        if "state" in step:
            state = Presence.sync_state(state, step["state"])
        else:
            state = Presence.sync_diff(state, step["diff"])
        ours.append(state)

    script = (
        'import { Presence } from "./socketapi/static/socketapi.js";'
        "const steps = JSON.parse(process.argv[1]); let state = {}; const out = [];"
        "for (const step of steps) { state = step.state ? Presence.syncState(state, step.state)"
        " : Presence.syncDiff(state, step.diff); out.push(state); }"
        "console.log(JSON.stringify(out));"
    )
    output = run([node, "--input-type=module", "-e", script, json.dumps(steps)], timeout=60)
    assert json.loads(output) == ours


async def test_on_a_channel_diffs_wait_for_the_state_of_the_current_join() -> None:
    link, channel, _ = setup()
    presence = Presence(channel)
    syncs: list[list[str]] = []
    presence.on_sync(lambda: syncs.append(sorted(presence.list(lambda key, _: key))))
    await join(link, channel)
    assert presence.in_pending_sync_state()

    def frame(event: str, data: Any) -> dict[str, Any]:
        return {"type": "data", "channel": "feed", "event": event, "data": data}

    channel.deliver(frame("presence_diff", {"joins": {"bob": {"metas": [meta("b")]}}, "leaves": {}}))
    assert syncs == []  # held until the state
    channel.deliver(frame("presence_state", {"ann": {"metas": [meta("a")]}}))
    assert syncs == [["ann", "bob"]]
    channel.deliver(frame("presence_diff", {"joins": {}, "leaves": {"bob": {"metas": [meta("b")]}}}))
    assert syncs[-1] == ["ann"]

    ws = await reconnect(link, channel)
    link.answer({"type": "subscribed", "channel": "feed", "ref": ws.last("subscribe")["ref"]})
    await settle()
    assert presence.in_pending_sync_state(), "a rejoin waits for its own presence_state"
    channel.deliver(frame("presence_state", {"cat": {"metas": [meta("c")]}}))
    assert syncs[-1] == ["cat"]
