"""Running the pinned Node tools (tsc, the AsyncAPI parser) from pytest, with bounded waits."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support import ROOT
from tests.tools import missing

HERE = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"


def node() -> str:
    path = shutil.which("node")
    if path is None:
        missing("node is not on PATH: install Node 20")
    assert path is not None
    if not (NODE_MODULES / "@asyncapi" / "parser").is_dir() or not (NODE_MODULES / "typescript").is_dir():
        missing("node_modules lacks @asyncapi/parser or typescript: run `npm ci`")
    return path


def run_node(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``node args...`` with the repository's node_modules reachable; never hangs past ``timeout``."""
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    return subprocess.run(
        [node(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def tsc(project: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_node(
        str(NODE_MODULES / "typescript" / "bin" / "tsc"),
        "-p",
        str(project),
        "--pretty",
        "false",
        cwd=project,
        timeout=timeout,
    )
