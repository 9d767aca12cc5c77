"""A server that comes back: uvicorn relaunched on the same port, for the phoenix client's reconnect test.

Finding node, the npm packages and chromium (skip without them, fail under CI) is tests/tools.py's.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.support import ROOT, _wait_listening, free_port, stop


@dataclass
class Relaunching:
    """A uvicorn on a fixed port that is started again (up to ``restarts`` times) whenever it exits."""

    app: str
    port: int
    env: dict[str, str]
    restarts: int = 2
    transport: str = "asgi"  # or "direct": `socketapi run --transport direct`
    launched: int = 0
    process: subprocess.Popen[bytes] | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _launch(self) -> None:
        where = ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.transport == "direct":
            command = [sys.executable, "-m", "socketapi", "run", self.app, "--transport", "direct", *where]
        else:
            command = [sys.executable, "-m", "uvicorn", self.app, *where]
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


def relaunching(app: str, env: dict[str, str] | None = None, restarts: int = 2, transport: str = "asgi") -> Relaunching:
    return Relaunching(app, free_port(), env or {}, restarts, transport=transport)
