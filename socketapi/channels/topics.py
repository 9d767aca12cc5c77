"""Topic patterns: ``"chat"`` names one topic, ``"room:{room_id}"`` a family of them."""

from __future__ import annotations

import re
from typing import Any

from ..exceptions import ImproperlyConfigured

_PARAM = re.compile(r"{([^{}]*)}")


class TopicPattern:
    """A channel's ``topic``, compiled at registration.

    A parameter matches one or more characters other than ``/``; topics are compared as
    exact strings, so ``rooms/05`` and ``rooms/5`` are different topics.
    """

    __slots__ = ("_regex", "params", "pattern")

    def __init__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise ImproperlyConfigured(f"A topic must be a non-empty string, got {pattern!r}")
        self.pattern = pattern
        names: list[str] = []
        regex = "^"
        last = 0
        for m in _PARAM.finditer(pattern):
            name = m.group(1)
            if not name.isidentifier():
                raise ImproperlyConfigured(f"Topic {pattern!r}: {{{name}}} is not a valid parameter name")
            if name in names:
                raise ImproperlyConfigured(f"Topic {pattern!r}: parameter {{{name}}} appears twice")
            names.append(name)
            literal = pattern[last : m.start()]
            if "{" in literal or "}" in literal:
                raise ImproperlyConfigured(f"Topic {pattern!r} has an unbalanced brace")
            regex += re.escape(literal) + f"(?P<{name}>[^/]+)"
            last = m.end()
        rest = pattern[last:]
        if "{" in rest or "}" in rest:
            raise ImproperlyConfigured(f"Topic {pattern!r} has an unbalanced brace")
        self.params = tuple(names)
        self._regex = re.compile(regex + re.escape(rest) + "$") if names else None

    @property
    def is_static(self) -> bool:
        return self._regex is None

    def match(self, topic: str) -> dict[str, str] | None:
        """The raw (string) parameters if ``topic`` belongs to this pattern, else ``None``."""
        if self._regex is None:
            return {} if topic == self.pattern else None
        m = self._regex.match(topic)
        return m.groupdict() if m else None

    def format(self, values: dict[str, Any]) -> str:
        """The concrete topic for these parameter values."""
        if self._regex is None:
            return self.pattern
        try:
            parts = {name: values[name] for name in self.params}
        except KeyError as exc:
            raise TypeError(f"Topic {self.pattern!r} needs a value for {{{exc.args[0]}}}") from None
        return self.pattern.format_map(parts)

    def __repr__(self) -> str:
        return f"TopicPattern({self.pattern!r})"
