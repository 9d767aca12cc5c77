"""Settings and fixtures for the whole suite.

Hypothesis runs derandomized under CI, so a CI failure reproduces; the end-to-end tests run once on
each server transport and share hardened-app servers and the clients opened on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.ci import in_ci
from tests.support import TRANSPORTS, Client, Servers

# "ci": the same examples on every run (a red CI can be replayed locally with
# HYPOTHESIS_PROFILE=ci); "dev": fresh examples each run, to keep finding new ones.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))


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
