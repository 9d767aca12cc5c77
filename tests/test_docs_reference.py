"""Reference pages agree with the code: every error code in protocol.md, every test helper in testing.md."""

from __future__ import annotations

import re
from pathlib import Path

from socketapi import exceptions

ROOT = Path(__file__).resolve().parent.parent


def codes_in_the_code() -> set[str]:
    found = set(exceptions.LIMIT_CODES)
    stack: list[type[exceptions.FrameError]] = [exceptions.FrameError]
    while stack:
        cls = stack.pop()
        found.add(cls.code)
        stack.extend(cls.__subclasses__())
    return found


def test_every_error_code_is_in_the_protocol_table() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    table = text[text.index("## Errors") : text.index("## `ref`")]
    documented = set(re.findall(r"\| `([a-z_]+)` \|$", table, re.M))
    assert codes_in_the_code() <= documented, codes_in_the_code() - documented
    assert {"too_many_channels", "rate_limited", "timeout", "handler_error", "invalid_frame"} <= documented


def test_limit_codes_are_the_ones_the_supervisor_uses() -> None:
    source = (ROOT / "socketapi" / "supervisor.py").read_text()
    used = set(re.findall(r'LimitExceeded\([^)]*"([a-z_]+)"\)', source))
    assert used == set(exceptions.LIMIT_CODES)


def test_docs_testing_lists_every_helper_of_the_test_client() -> None:
    from socketapi.testclient import SocketSession

    text = (ROOT / "docs" / "testing.md").read_text()
    helpers = {name for name in vars(SocketSession) if not name.startswith("_")} | {"websocket", "timeout"}
    missing = {name for name in helpers if f"`{name}" not in text}
    assert not missing, f"docs/testing.md does not mention {sorted(missing)}"
