"""Presence entries and the diffs between them, in Phoenix's shapes.

A topic's presence ``S`` is ``{key: {"metas": [meta, ...]}}``; every meta carries a unique
``phx_ref`` (and, after an update, ``phx_ref_prev``, the ref it replaced). A diff is
``{"joins": S, "leaves": S}``. These are exactly the payloads of Phoenix.Presence, so that
phoenix.js's ``Presence`` syncs from them unchanged.
"""

from __future__ import annotations

import secrets
from typing import Any, TypeAlias

from pydantic_core import from_json, to_json

Meta: TypeAlias = dict[str, Any]
PresenceState: TypeAlias = dict[str, dict[str, list[Meta]]]


class Entry:
    """One tracked presence: a key (a user id, say) on a topic, with one meta."""

    __slots__ = ("key", "meta", "ref", "topic")

    def __init__(self, topic: str, key: str, ref: str, meta: Meta) -> None:
        self.topic = topic
        self.key = key
        self.ref = ref
        self.meta = meta  # includes "phx_ref" (== ref)

    def __repr__(self) -> str:
        return f"Entry({self.topic!r}, {self.key!r}, {self.meta!r})"


def new_ref() -> str:
    """A ref unique across nodes (64 random bits), as Phoenix's."""
    return secrets.token_urlsafe(8)


def normalize_key(key: object) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"A presence key must be a string (or an integer), got {type(key).__name__}")
    return str(key)


def normalize_meta(meta: object) -> Meta:
    """A JSON-safe copy of ``meta`` (pydantic models welcome), so later changes to it do not leak in."""
    if meta is None:
        return {}
    value = from_json(to_json(meta))
    if not isinstance(value, dict):
        raise TypeError(f"Presence meta must be a JSON object (a dict), got {type(meta).__name__}")
    return value


def group(entries: object) -> PresenceState:
    """``S`` for some entries, metas in the order the entries are given."""
    state: PresenceState = {}
    for entry in entries:  # type: ignore[attr-defined]
        metas = state.get(entry.key)
        if metas is None:
            state[entry.key] = {"metas": [entry.meta]}
        else:
            metas["metas"].append(entry.meta)
    return state


class DiffBuffer:
    """One topic's changes not yet sent to its subscribers.

    A join and a leave of the same ref inside one window cancel out, so a member who comes
    and goes within it costs the subscribers nothing; an update (a leave of the old ref and a
    join of the new one) stays both, as Phoenix sends it.
    """

    __slots__ = ("joins", "leaves")

    def __init__(self) -> None:
        self.joins: dict[str, Entry] = {}
        self.leaves: dict[str, Entry] = {}

    def join(self, entry: Entry) -> None:
        if self.leaves.pop(entry.ref, None) is None:
            self.joins[entry.ref] = entry

    def leave(self, entry: Entry) -> None:
        if self.joins.pop(entry.ref, None) is None:
            self.leaves[entry.ref] = entry

    def __bool__(self) -> bool:
        return bool(self.joins or self.leaves)

    def payload(self) -> dict[str, PresenceState]:
        return {"joins": group(self.joins.values()), "leaves": group(self.leaves.values())}
