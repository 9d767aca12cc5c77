"""The suite's own rules: what counts as CI, and that Hypothesis is derandomized there."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import settings

from tests.ci import in_ci, unavailable
from tests.support import ROOT, free_port


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        ("", False),
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
    ],
)
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected


@pytest.mark.parametrize(("value", "outcome"), [("1", pytest.fail.Exception), ("0", pytest.skip.Exception)])
def test_a_missing_tool_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, value: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(outcome, match="redis-server is not on PATH"):
        unavailable("redis-server is not on PATH")


def test_the_loaded_hypothesis_profile_is_derandomized_exactly_under_ci() -> None:
    if os.environ.get("HYPOTHESIS_PROFILE"):
        pytest.skip("HYPOTHESIS_PROFILE chooses the profile explicitly")
    assert settings().derandomize is in_ci()


@pytest.mark.parametrize("ci", ["1", "true"])
def test_a_missing_redis_fails_the_redis_tests_under_ci(ci: str) -> None:
    """Run the Redis tests against a port nothing listens on: under CI they must fail, not skip."""
    env = {**os.environ, "CI": ci, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "redis", "tests/pubsub/test_redis.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert f"CI={ci} and Redis is unreachable" in result.stdout
    assert " skipped" not in result.stdout.splitlines()[-1]
