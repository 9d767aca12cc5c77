"""Presence (SPEC 7.2): who is on each topic, Phoenix.Presence's payloads, on one node or many."""

from .state import DiffBuffer, Entry, PresenceState, group
from .sync import sync_diff, sync_state
from .tracker import CONTROL_TOPIC, Presence

__all__ = ["CONTROL_TOPIC", "DiffBuffer", "Entry", "Presence", "PresenceState", "group", "sync_diff", "sync_state"]
