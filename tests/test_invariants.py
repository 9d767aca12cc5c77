"""Invariants of the code itself: socketapi reads no private attribute of the libraries it runs on.

Starlette, uvicorn, redis-py and asyncio may rename or drop any ``_name`` in a patch release;
if we used one, an upgrade would break us silently. So every ``x._name`` in ``socketapi/``
whose ``x`` is not ``self``/``cls`` must be one of our own, listed below with why; a new one
(``websocket._send``, ``future._asyncio_future_blocking``) fails this test until it is
either rewritten on public API or, being ours, added to the list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "socketapi"

# (receiver as written, attribute): each is socketapi's own object, or a documented public API.
ALLOWED = {
    ("type(self)", "_func"): "the wrapped function our own FunctionAction/FunctionChannel classes carry",
    ("cls", "_func"): "the same, read by ActionRoute from the Action subclass it compiles",
    ("channel", "_context"): "the engine's slot of our own Channel class (channels/base.py)",
    ("router", "_actions"): "include_router merges another socketapi Router",
    ("router", "_static_channels"): "include_router merges another socketapi Router",
    ("router", "_pattern_channels"): "include_router merges another socketapi Router",
    ("router", "_channel_functions"): "include_router merges another socketapi Router",
    ("app", "_cut_shutdown_short"): "the direct transport, the app's own server, passes on a second signal",
    ("parts", "_replace"): "namedtuple's documented public method (urllib.parse.SplitResult)",
}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(source: str, filename: str = "<source>") -> list[tuple[int, str, str]]:
    """Every ``x._name`` (and ``getattr(x, "_name")``) with ``x`` not ``self``/``cls``, and every private import."""
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and private(node.attr):
            receiver = ast.unparse(node.value)
            if receiver not in ("self", "cls"):
                found.append((node.lineno, receiver, node.attr))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append((node.lineno, ast.unparse(node.args[0]), node.args[1].value))  # even on self/cls
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if any(private(part) for part in node.module.split(".")):
                found.append((node.lineno, "import", node.module))
            found.extend((node.lineno, node.module, a.name) for a in node.names if private(a.name))
        elif isinstance(node, ast.Import):
            found.extend(
                (node.lineno, "import", a.name) for a in node.names if any(private(p) for p in a.name.split("."))
            )
    return found


def test_socketapi_uses_no_private_attribute_of_another_library() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {receiver}.{attr}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, receiver, attr in private_uses(path.read_text(), str(path))
        if (receiver, attr) not in ALLOWED
    ]
    assert not offenders, "private attributes used (rewrite on public API, or list ours in ALLOWED):\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize(
    "line",
    [
        "send = websocket._send",
        "stream = ws._send_rx",
        "future._asyncio_future_blocking = False",
        "pool = client.connection_pool._available_connections",
        "x = getattr(websocket, '_receive')",
        "from starlette._utils import is_async_callable",
        "import uvicorn._types",
    ],
)
def test_the_scan_catches_a_private_attribute(line: str) -> None:
    assert private_uses(line), line


def test_the_scan_ignores_our_own_and_dunder_names() -> None:
    assert not private_uses("self._queue.clear()\ncls._x = 1\nname = obj.__class__.__name__")
