"""Client side: keep a copy of a topic's presence from ``presence_state`` and ``presence_diff``.

The same algorithm as phoenix.js's ``Presence.syncState`` / ``syncDiff``: joins are applied
before leaves, and metas are matched by ``phx_ref``. Used by the test client; any Python
client can use it.
"""

from __future__ import annotations

import copy
from typing import Any

from .state import PresenceState


def sync_diff(state: PresenceState, diff: dict[str, Any]) -> PresenceState:
    """``state`` after ``diff`` (``{"joins": S, "leaves": S}``); ``state`` itself is not changed."""
    state = copy.deepcopy(state)
    for key, joined in diff.get("joins", {}).items():
        metas = copy.deepcopy(joined["metas"])
        current = state.get(key)
        if current is not None:
            refs = {m.get("phx_ref") for m in metas}
            metas = [m for m in current["metas"] if m.get("phx_ref") not in refs] + metas
        state[key] = {"metas": metas}
    for key, left in diff.get("leaves", {}).items():
        current = state.get(key)
        if current is None:
            continue
        refs = {m.get("phx_ref") for m in left["metas"]}
        current["metas"] = [m for m in current["metas"] if m.get("phx_ref") not in refs]
        if not current["metas"]:
            del state[key]
    return state


def sync_state(state: PresenceState, new_state: PresenceState) -> PresenceState:
    """``state`` replaced by a full ``presence_state`` (metas kept by ref where they did not change)."""
    joins: PresenceState = {}
    leaves: PresenceState = {key: presence for key, presence in state.items() if key not in new_state}
    for key, presence in new_state.items():
        current = state.get(key)
        if current is None:
            joins[key] = presence
            continue
        new_refs = {m.get("phx_ref") for m in presence["metas"]}
        cur_refs = {m.get("phx_ref") for m in current["metas"]}
        joined = [m for m in presence["metas"] if m.get("phx_ref") not in cur_refs]
        left = [m for m in current["metas"] if m.get("phx_ref") not in new_refs]
        if joined:
            joins[key] = {"metas": joined}
        if left:
            leaves[key] = {"metas": left}
    return sync_diff(state, {"joins": joins, "leaves": leaves})
