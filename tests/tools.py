"""Finding the external tools some tests drive (node, tsc, chromium): skip without them, but fail under CI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.ci import unavailable

ROOT = Path(__file__).resolve().parent.parent


def missing(reason: str) -> None:
    """Skip the test, or fail it under CI, where every tool is part of the contract (tests/ci.py's rule)."""
    unavailable(reason)


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
    """Run ``command`` from the repository root; fail with its whole output unless it exits with 0.

    It runs in a process group of its own, killed whole on timeout: ``node --test`` runs each file
    in a child process that would otherwise outlive it.
    """
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command)} did not finish within {timeout}s:\n{stdout}\n{stderr}", pytrace=False)
    output = stdout + stderr
    if process.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited with {process.returncode}:\n{output}", pytrace=False)
    return output
