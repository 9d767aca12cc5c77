"""Every Python example in docs/ and the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def test_readme_quick_start_runs() -> None:
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    exec(compile("\n".join(blocks), "README.md", "exec"), {"__name__": "readme_example"})
