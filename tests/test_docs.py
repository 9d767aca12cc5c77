"""Every Python example in docs/ and the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from socketapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "docs").glob("*.md")):
        for i, code in enumerate(BLOCK.findall(path.read_text())):
            found.append((f"{path.name}#{i + 1}", code))
    return found


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_docs_example_runs(name: str, code: str) -> None:
    exec(compile(code, name, "exec"), {"__name__": f"docs_example_{name}"})


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_docs_example_asserts_something(name: str, code: str) -> None:
    """An example that asserts nothing runs without showing it does what the text says."""
    assert "assert " in code or "# no-assert:" in code, f"{name} asserts nothing (or says why with '# no-assert:')"


def test_readme_quick_start_runs_and_serves_what_it_declares() -> None:
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile("\n".join(blocks), "README.md", "exec"), namespace)
    with TestClient(namespace["app"]).socket(timeout=5) as socket:
        assert socket.call("add_numbers", {"a": 2, "b": 3}) == 5
        assert socket.call("multiply", {"a": 2, "b": 3}) == 6
        assert socket.join("chat") is None
        assert socket.join("room:7", {"nick": "ann"}) == {"welcome": "ann"}
        assert socket.receive_reply(socket.push("room:7", "shout", {"text": "hi"})) == {"sent": True}
        assert socket.receive_push("room:7", "shout") == {"from": "ann", "text": "hi"}
