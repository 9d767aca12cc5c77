"""Reference pages agree with the code: every error code in protocol.md, every test helper in testing.md."""

from __future__ import annotations

import re
from pathlib import Path

from socketapi import exceptions

ROOT = Path(__file__).resolve().parent.parent


def codes_in_the_code() -> set[str]:
    found = set(exceptions.LIMIT_CODES)
    stack: list[type[exceptions.FrameError]] = [exceptions.FrameError]
    while stack:
        cls = stack.pop()
        found.add(cls.code)
        stack.extend(cls.__subclasses__())
    return found


def test_every_error_code_is_in_the_protocol_table() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    table = text[text.index("## Errors") : text.index("## `ref`")]
    documented = set(re.findall(r"\| `([a-z_]+)` \|$", table, re.M))
    assert codes_in_the_code() <= documented, codes_in_the_code() - documented
    assert {"too_many_channels", "rate_limited", "timeout", "handler_error", "invalid_frame"} <= documented


def test_limit_codes_are_the_ones_the_engine_uses() -> None:
    source = "\n".join(path.read_text() for path in (ROOT / "socketapi").rglob("*.py"))
    used = set(re.findall(r'LimitExceeded\([^)]*"([a-z_]+)"\)', source))
    assert used == set(exceptions.LIMIT_CODES)


def test_docs_testing_lists_every_helper_of_the_test_client() -> None:
    from socketapi.testclient import SocketSession

    text = (ROOT / "docs" / "testing.md").read_text()
    helpers = {name for name in vars(SocketSession) if not name.startswith("_")} | {"websocket", "timeout"}
    missing = {name for name in helpers if f"`{name}" not in text}
    assert not missing, f"docs/testing.md does not mention {sorted(missing)}"


def test_the_readme_states_the_python_version_and_installs_what_its_snippets_need() -> None:
    import tomllib

    readme = (ROOT / "README.md").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert "Python 3.11+" in readme
    commands = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert len(commands) == 2  # exactly two set-up commands
    extras = set(re.search(r'-e "\.\[([a-z,]+)\]"', commands[0]).group(1).split(","))  # type: ignore[union-attr]
    # The quick start's test client is Starlette's, which imports httpx2: the first command brings it.
    assert any(req.startswith("httpx2") for extra in extras for req in project["optional-dependencies"][extra])
    assert "socketapi run example_app:app" in commands[0]
    assert project["scripts"]["socketapi"] == "socketapi.cli:main"
