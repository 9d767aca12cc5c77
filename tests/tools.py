"""Finding the external tools some tests drive (node, tsc, chromium): skip without them, but fail under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "false", "0")


def missing(reason: str) -> None:
    """Skip the test, or fail it under CI, where every tool is part of the contract."""
    if in_ci():
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(f"{reason} (with CI set this fails)")


def require(tool: str, hint: str) -> str:
    found = shutil.which(tool)
    if found is None:
        missing(f"{tool} is not installed: {hint}")
    assert found is not None
    return found


def node_module(name: str) -> Path:
    path = ROOT / "node_modules" / name
    if not path.exists():
        missing(f"node_modules/{name} is missing: run `npm ci`")
    return path


def run(command: list[str], *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run ``command`` from the repository root; fail with its whole output unless it exits with 0."""
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(command)} did not finish within {timeout}s:\n{exc.stdout}\n{exc.stderr}")
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited with {done.returncode}:\n{output}", pytrace=False)
    return output
