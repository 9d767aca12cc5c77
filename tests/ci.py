"""Whether the tests run under CI, and what a missing tool (Redis, node, chromium) means there.

Under CI a missing tool is a failure, never a skip: CI must not go green by testing less.
Elsewhere the test is skipped with the reason. CI counts as on when the ``CI`` environment
variable is set to anything but an empty string, ``false``, ``0``, ``no`` or ``off`` (CI
services set ``CI=true``; some set ``CI=1``).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

_OFF = frozenset({"", "false", "0", "no", "off"})


def in_ci() -> bool:
    """Whether we run under CI (see the module docstring for what counts)."""
    return os.environ.get("CI", "").strip().lower() not in _OFF


def unavailable(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it under CI, where every tool is part of the contract."""
    if in_ci():
        pytest.fail(f"CI={os.environ.get('CI')} and {reason}", pytrace=False)
    pytest.skip(f"{reason} (under CI this fails)")
