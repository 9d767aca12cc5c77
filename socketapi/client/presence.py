"""A channel's presence list, kept from ``presence_state`` and ``presence_diff`` as phoenix.js keeps it."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable
from typing import Any, TypeVar

from .channel import Channel, Message

T = TypeVar("T")

# {key: {"metas": [meta, ...]}}, each meta with its unique "phx_ref" (SPEC 7.2).
State = dict[str, dict[str, Any]]
JoinCallback = Callable[[str, dict[str, Any] | None, dict[str, Any]], object]
LeaveCallback = Callable[[str, dict[str, Any], dict[str, Any]], object]


def _refs(entry: dict[str, Any]) -> set[str]:
    return {meta["phx_ref"] for meta in entry["metas"]}


def _nothing(*_: Any) -> None:
    return None


class Presence:
    """Create it before ``join()``; diffs that arrive before the current join's state wait for it."""

    def __init__(self, channel: Channel, *, state_event: str = "presence_state", diff_event: str = "presence_diff"):
        self.channel = channel
        self.state: State = {}
        self._pending: list[dict[str, Any]] = []
        self._synced_join: int | None = None
        self._on_join: JoinCallback = _nothing
        self._on_leave: LeaveCallback = _nothing
        self._on_sync: Callable[[], object] = _nothing
        channel.on(state_event, self._got_state)
        channel.on(diff_event, self._got_diff)

    def on_sync(self, callback: Callable[[], object]) -> None:
        self._on_sync = callback

    def on_join(self, callback: JoinCallback) -> None:
        self._on_join = callback

    def on_leave(self, callback: LeaveCallback) -> None:
        self._on_leave = callback

    def list(self, chooser: Callable[[str, dict[str, Any]], T] | None = None) -> builtins.list[Any]:
        """One item per key: ``chooser(key, entry)``, or the entry itself."""
        return Presence.list_of(self.state, chooser)

    def in_pending_sync_state(self) -> bool:
        return self._synced_join is None or self._synced_join != self.channel.join_ref

    def _got_state(self, message: Message) -> None:
        self._synced_join = self.channel.join_ref
        self.state = Presence.sync_state(self.state, message.data, self._on_join, self._on_leave)
        for diff in self._pending:
            self.state = Presence.sync_diff(self.state, diff, self._on_join, self._on_leave)
        self._pending.clear()
        self._on_sync()

    def _got_diff(self, message: Message) -> None:
        if self.in_pending_sync_state():
            self._pending.append(message.data)
            return
        self.state = Presence.sync_diff(self.state, message.data, self._on_join, self._on_leave)
        self._on_sync()

    @staticmethod
    def sync_state(
        current: State, new: State, on_join: JoinCallback = _nothing, on_leave: LeaveCallback = _nothing
    ) -> State:
        """``new`` as a diff against ``current`` (keys and metas, by ``phx_ref``, that came and went), applied."""
        joins: State = {}
        leaves: State = {key: entry for key, entry in current.items() if key not in new}
        for key, entry in new.items():
            known = current.get(key)
            if known is None:
                joins[key] = entry
                continue
            joined = [meta for meta in entry["metas"] if meta["phx_ref"] not in _refs(known)]
            left = [meta for meta in known["metas"] if meta["phx_ref"] not in _refs(entry)]
            if joined:
                joins[key] = {**entry, "metas": joined}
            if left:
                leaves[key] = {**known, "metas": left}
        return Presence.sync_diff(current, {"joins": joins, "leaves": leaves}, on_join, on_leave)

    @staticmethod
    def sync_diff(
        state: State, diff: dict[str, Any], on_join: JoinCallback = _nothing, on_leave: LeaveCallback = _nothing
    ) -> State:
        """``state`` with ``diff`` applied, joins before leaves (a new dict; ``state`` is left as it was)."""
        result = copy.deepcopy(state)
        diff = copy.deepcopy(diff)
        for key, joined in diff["joins"].items():
            before = result.get(key)
            kept = [meta for meta in before["metas"] if meta["phx_ref"] not in _refs(joined)] if before else []
            result[key] = {**joined, "metas": [*kept, *joined["metas"]]}
            on_join(key, before, joined)
        for key, left in diff["leaves"].items():
            entry = result.get(key)
            if entry is None:
                continue
            entry["metas"] = [meta for meta in entry["metas"] if meta["phx_ref"] not in _refs(left)]
            on_leave(key, entry, left)
            if not entry["metas"]:
                del result[key]
        return result

    @staticmethod
    def list_of(state: State, chooser: Callable[[str, dict[str, Any]], T] | None = None) -> builtins.list[Any]:
        """One item per key: ``chooser(key, entry)``, or the entry itself."""
        if chooser is None:
            return list(state.values())
        return [chooser(key, entry) for key, entry in state.items()]
