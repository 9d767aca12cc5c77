"""What the tests of the official phoenix client need: Node, the npm packages, chromium, and a server that comes back.

Without one of the tools the tests are skipped with the reason, except under CI (``CI`` set
and not ``false``/``0``): there a missing tool fails them loudly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ROOT, _wait_listening, free_port, stop

PHOENIX_PACKAGE = ROOT / "node_modules" / "phoenix" / "package.json"
WS_PACKAGE = ROOT / "node_modules" / "ws" / "package.json"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "false", "0")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI, where the tool is part of the contract."""
    if in_ci():
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(f"{reason} (with CI set this fails)")


def need_node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    elif not (PHOENIX_PACKAGE.exists() and WS_PACKAGE.exists()):
        unavailable("node_modules lacks phoenix or ws: run `npm ci`")
    return node or ""


@dataclass
class Relaunching:
    """A uvicorn on a fixed port that is started again (up to ``restarts`` times) whenever it exits."""

    app: str
    port: int
    env: dict[str, str]
    restarts: int = 2
    launched: int = 0
    process: subprocess.Popen[bytes] | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _launch(self) -> None:
        command = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--log-level", "warning"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **self.env},
        )
        self.launched += 1
        _wait_listening(self.process, self.port, 20)

    def _watch(self) -> None:
        while not self._stopping.wait(0.05):
            with self._lock:
                process = self.process
                if process is None or process.poll() is None or self._stopping.is_set():
                    continue
                if self.launched > self.restarts:
                    return
                self._launch()

    @contextlib.contextmanager
    def running(self) -> Iterator[Relaunching]:
        self._launch()
        watcher = threading.Thread(target=self._watch, name="relaunch-uvicorn", daemon=True)
        watcher.start()
        try:
            yield self
        finally:
            self._stopping.set()
            watcher.join(30)
            with self._lock:
                if self.process is not None:
                    stop(self.process)


def relaunching(app: str, env: dict[str, str] | None = None, restarts: int = 2) -> Relaunching:
    return Relaunching(app, free_port(), env or {}, restarts)


def run_node_test(node: str, test_file: Path, env: dict[str, str], timeout: float = 180) -> str:
    """``node --test test_file``; fails with its whole output unless every test passed."""
    try:
        result = subprocess.run(
            [node, "--test", "--test-reporter=spec", str(test_file)],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node --test {test_file.name} ran over {timeout}s:\n{exc.stdout}\n{exc.stderr}", pytrace=False)
    output = f"{result.stdout}\n{result.stderr}"
    if result.returncode != 0:
        pytest.fail(f"node --test {test_file.name} exited with {result.returncode}:\n{output}", pytrace=False)
    return output
