"""Fixtures shared by the end-to-end tests: the transport they run on, hardened-app servers and the clients
opened on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import TRANSPORTS, Client, Servers


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The server transport an end-to-end test runs on: each such test runs once on each."""
    name: str = request.param
    return name


@pytest.fixture
def servers(tmp_path: Path, transport: str) -> Iterator[Servers]:
    s = Servers(tmp_path, transport)
    yield s
    s.close()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for c in opened:
        c.close()
