"""Fixtures shared by the end-to-end suites."""

from __future__ import annotations

import pytest

from tests.support import TRANSPORTS


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The server transport an end-to-end test runs on: each such test runs once on each."""
    name: str = request.param
    return name
