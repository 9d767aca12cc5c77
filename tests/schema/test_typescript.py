"""The generated TypeScript compiles under tsc --strict, and each kind of mistake is a compile error."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from socketapi.schema.describe import describe
from socketapi.schema.typescript import typescript_module
from tests.apps import every_handler, name_clash
from tests.support import ROOT, serve

from .node_support import HERE, run_node, tsc

USAGE = HERE / "typescript"
ERROR = re.compile(r"^(?P<file>[\w.]+)\(\d+,\d+\): error (?P<code>TS\d+): (?P<message>.*)$", re.M)
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "es2022",
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "lib": ["es2022", "dom"],
    },
    "include": ["*.ts"],
}


DOCS = ROOT / "docs" / "asyncapi.md"
DOC_MISTAKE = re.compile(r"^// (?P<code>\S.*?;)\s+(?P<error>TS\d+): ", re.M)


def bad_files() -> list[Path]:
    return sorted(USAGE.glob("bad_*.ts"))


def docs_block() -> str:
    blocks = re.findall(r"```ts\n(.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) == 1, "docs/asyncapi.md shows one TypeScript example"
    return blocks[0]  # type: ignore[no-any-return]


def docs_mistakes() -> list[tuple[str, str]]:
    """The lines docs/asyncapi.md says do not compile, each with the error it names."""
    return [(m["code"], m["error"]) for m in DOC_MISTAKE.finditer(docs_block())]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """One tsc run over the generated modules and every usage file: the errors, by file."""
    from example_app import app as example

    project = tmp_path_factory.mktemp("tsc")
    shutil.copy(ROOT / "socketapi" / "static" / "socketapi.d.ts", project / "socketapi.d.ts")
    (project / "api.ts").write_text(typescript_module(describe(every_handler.app.endpoints)))
    (project / "example_api.ts").write_text(typescript_module(describe(example.endpoints)))
    (project / "empty_api.ts").write_text(typescript_module(describe(every_handler.empty_app.endpoints)))
    (project / "clash_api.ts").write_text(typescript_module(describe(name_clash.app.endpoints)))
    for usage in USAGE.glob("*.ts"):
        shutil.copy(usage, project / usage.name)
    block = docs_block()
    (project / "docs_example.ts").write_text(block)
    for i, (code, error) in enumerate(docs_mistakes()):
        (project / f"docs_mistake_{i}.ts").write_text(f"{block}\n// expect: {error}\n{code}\n")
    (project / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    (project / "package.json").write_text('{"type": "module"}')  # ES modules: top-level await
    result = tsc(project)
    errors: dict[str, list[tuple[str, str]]] = {name.name: [] for name in project.glob("*.ts")}
    for m in ERROR.finditer(result.stdout):
        errors.setdefault(m["file"], []).append((m["code"], m["message"]))
    assert result.returncode in (0, 2), result.stdout + result.stderr  # 2: errors were reported
    assert errors or result.returncode == 0, result.stdout + result.stderr
    return errors


@pytest.mark.parametrize(
    "name",
    [
        "api.ts",
        "example_api.ts",
        "empty_api.ts",
        "good_every_handler.ts",
        "good_example_app.ts",
        "docs_example.ts",
        "clash_api.ts",
    ],
)
def test_compiles_under_strict(compiled: dict[str, list[tuple[str, str]]], name: str) -> None:
    assert compiled[name] == []  # a KeyError: the file was not in the project


@pytest.mark.parametrize("path", bad_files(), ids=[p.stem for p in bad_files()])
def test_a_mistake_is_a_compile_error(compiled: dict[str, list[tuple[str, str]]], path: Path) -> None:
    expected = re.search(r"^// expect: (TS\d+)$", path.read_text(), re.M)
    assert expected, f"{path.name} must say which error it expects"
    errors = compiled.get(path.name, [])
    assert errors, f"{path.name} compiled, but it must not: {path.read_text().splitlines()[0]}"
    assert [code for code, _ in errors] == [expected[1]], errors


def test_each_mistake_the_docs_show_fails_as_they_say(compiled: dict[str, list[tuple[str, str]]]) -> None:
    mistakes = docs_mistakes()
    assert len(mistakes) == 4
    for i, (code, error) in enumerate(mistakes):
        assert [c for c, _ in compiled.get(f"docs_mistake_{i}.ts", [])] == [error], code


def test_each_bad_file_is_a_distinct_mistake() -> None:
    bodies = [p.read_text().split("{", 1)[1] for p in bad_files()]
    assert len(set(bodies)) == len(bodies) >= 15


def test_models_named_like_the_modules_own_names_are_renamed() -> None:
    source = typescript_module(describe(name_clash.app.endpoints))
    assert "export type Socket2 = { id: number; };" in source
    assert "export type TypedSocket2 = { socket: Socket2; };" in source
    assert "args: [data: { socket: Socket2; actions: Actions2; }, options?: RequestOptions];" in source


def test_unions_in_arrays_are_parenthesised() -> None:
    source = typescript_module(describe(every_handler.app.endpoints))
    assert 'args: [data: { rows: ({ [key: string]: number } | null)[]; label?: "a|b" | "say \\"hi\\""; }' in source
    assert "result: [number, string];" in source


def test_a_topic_is_built_from_its_pattern() -> None:
    source = typescript_module(describe(every_handler.app.endpoints))
    assert "const TOPIC_PARAMETERS: { readonly [P in ChannelPattern]: readonly string[] } = {\n" in source
    assert '  "shop/{shop_id}/orders/{order_id}": ["shop_id", "order_id"],\n' in source
    assert '  "news": [],\n' in source


def test_the_wrappers_work_at_run_time_over_socketapi_js(tmp_path: Path) -> None:
    """Compiled to JS, the generated module drives the real client against the example app on uvicorn."""
    from example_app import app as example

    client = ROOT / "socketapi" / "static" / "socketapi.js"
    assert client.exists(), "socketapi.js ships in the package"
    (tmp_path / "example_api.ts").write_text(typescript_module(describe(example.endpoints)))
    shutil.copy(ROOT / "socketapi" / "static" / "socketapi.d.ts", tmp_path / "socketapi.d.ts")
    config = {**TSCONFIG, "compilerOptions": {**TSCONFIG["compilerOptions"], "noEmit": False, "outDir": "out"}}
    (tmp_path / "tsconfig.json").write_text(json.dumps({**config, "include": ["example_api.ts"]}))
    (tmp_path / "package.json").write_text('{"type": "module"}')
    compiled = tsc(tmp_path)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    out = tmp_path / "out"
    (out / "package.json").write_text('{"type": "module"}')
    shutil.copy(client, out / "socketapi.js")
    shutil.copy(USAGE / "run_example.mjs", out / "run_example.mjs")
    (out / "node_modules").symlink_to(ROOT / "node_modules")  # ws, for Node
    with serve("example_app:app") as server:
        result = run_node(str(out / "run_example.mjs"), server.url, cwd=out, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {
        "sum": 5,
        "product": 42,
        "topic": "room:7",
        "welcome": {"welcome": "ann", "room": 7},
        "reply": {"sent": 1},
        "shout": {"from": "ann", "text": "hi"},
    }
