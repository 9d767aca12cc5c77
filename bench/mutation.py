"""Mutation testing of the engine: how many one-line breaks of its code the fast tests catch.

    pip install -e ".[test,mutation]"
    python bench/mutation.py                      # the engine modules, 2 workers, at most 30 minutes
    python bench/mutation.py --modules socketapi/pubsub/hub.py --time-limit 300

mutmut (pinned in the ``mutation`` extra) rewrites every function of the chosen modules into
many mutants (a ``<`` turned into ``<=``, a constant changed, a call dropped, ...) and runs,
for each mutant, only the tests that called that function. A mutant is *killed* when one of
them fails (or hangs past mutmut's timeout); a *survivor* is a change to the engine no test
notices. The script prints the score per module and every survivor with its diff; with
``--markdown`` it prints the survivors as the list kept in ``docs/testing.md``.

Only in-process tests can be attributed to the functions they exercise: a test file that starts
a server in a subprocess (it imports ``subprocess`` or ``tests.support.serve``) is left out of
the run, so the score measures the fast tests. The run happens in a scratch copy (``.mutation/``
at the repository root, ignored by git); the working tree is never modified. Not run by CI: it
takes minutes on two cores, and its figures depend on how busy the machine is only through
``timeout`` verdicts (a mutant that makes a test hang counts as killed).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"

# The engine, as it is laid out now or after the transport/wire split: whichever exist are mutated.
ENGINE = (
    "socketapi/transport/*.py",
    "socketapi/connection.py",
    "socketapi/supervisor.py",
    "socketapi/channels/process.py",
    "socketapi/wire/*.py",
    "socketapi/protocol.py",
    "socketapi/pubsub/hub.py",
    "socketapi/settings.py",
)
# Test files that run the code under test in another process cannot be attributed to functions.
OUT_OF_PROCESS = re.compile(r"^\s*(import subprocess|from tests\.support import .*\bserve\b)", re.M)
EXTRA = ("README.md", "docs", "example_app")  # what the fast tests read besides the package and the tests
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def engine_modules(patterns: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            rel = path.relative_to(ROOT).as_posix()
            if path.name != "__init__.py" and rel not in found:
                found.append(rel)
    return found


def fast_test_files() -> list[str]:
    files = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if not OUT_OF_PROCESS.search(path.read_text()):
            files.append(path.relative_to(ROOT).as_posix())
    return files


def prepare(modules: list[str], tests: list[str], keep: bool) -> None:
    if WORK.exists() and not keep:
        shutil.rmtree(WORK)
    WORK.mkdir(exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("socketapi", "tests", *EXTRA):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, WORK / name, ignore=ignore, dirs_exist_ok=True)
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, WORK / name)
    config = {
        "source_paths": ["socketapi"],
        "also_copy": [name for name in EXTRA if (ROOT / name).exists()],
        "only_mutate": modules,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-x", "-q"],
        # A mutant whose tests run this many times longer than unmutated is a hang: killed.
        "timeout_multiplier": 4.0,
        "timeout_constant": 2.0,
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    (WORK / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + "\n".join(lines) + "\n")


def run_mutmut(jobs: int, time_limit: float, names: list[str] | None = None, *, again: bool = False) -> bool:
    """Run mutmut in the scratch copy (only ``names`` if given); ``False`` if the time limit stopped it."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    log = (WORK / "mutmut.log").open("ab" if names or again else "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *(names or [])],
        cwd=WORK,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped whole, workers included
    )
    try:
        process.wait(timeout=time_limit)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return False
    finally:
        log.close()


def clean_run_failed() -> bool:
    """Whether mutmut's last run stopped because the tests failed on the unmutated code."""
    log = WORK / "mutmut.log"
    return log.exists() and log.read_text(errors="replace").rstrip().endswith("Failed to run clean test")


def verdicts() -> dict[str, dict[str, str]]:
    """module path → mutant name → status, read from mutmut's result files."""
    from mutmut.stats import status_by_exit_code

    results: dict[str, dict[str, str]] = {}
    for meta in sorted((WORK / "mutants" / "socketapi").rglob("*.py.meta")):
        module = meta.relative_to(WORK / "mutants").as_posix().removesuffix(".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        results[module] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return results


def diffs(names: list[str]) -> dict[str, str]:
    """Each mutant's diff, computed by mutmut in one process (``mutmut show`` per mutant is slow)."""
    if not names:
        return {}
    script = (
        "import json, sys\n"
        "from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant\n"
        "names = json.load(sys.stdin)\n"
        "print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=WORK, input=json.dumps(names), capture_output=True, text=True, check=True
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


def only_log_text(name: str) -> bool:
    """Whether the mutant changes nothing but the arguments of a ``logger.*(...)`` call (its wording).

    Such a mutant changes what a log line says, never what a client, a subscriber or another
    node sees; the log *levels* the docs promise are tested, the wording is not. They are
    reported apart and counted as equivalent.
    """
    module_name, _, mutant = name.rpartition(".")
    path = WORK / "mutants" / (module_name.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    original = functions.get(mutant.split("__mutmut_")[0] + "__mutmut_orig")
    mutated = functions.get(mutant)
    if original is None or mutated is None:
        return False
    source = path.read_text().splitlines()
    before = source[original.lineno - 1 : original.end_lineno]
    after = source[mutated.lineno - 1 : mutated.end_lineno]
    changed = set()
    matcher = difflib.SequenceMatcher(a=before[1:], b=after[1:], autojunk=False)  # the def lines differ by name
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            changed.update(range(original.lineno + 1 + i1, original.lineno + 1 + max(i2, i1 + 1)))
    log_lines = set()
    for node in ast.walk(original):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "logger"
        ):
            log_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return bool(changed) and changed <= log_lines


def changed_lines(diff: str) -> str:
    """The mutant in one line: what it removed → what it put instead."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return f"`{' / '.join(removed)}` → `{' / '.join(added)}`"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="*", default=None, help="modules to mutate (default: the engine)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds before the run is stopped")
    parser.add_argument("--keep", action="store_true", help="reuse .mutation/ (mutmut skips mutants it checked)")
    parser.add_argument("--markdown", action="store_true", help="print the survivors as a Markdown list")
    parser.add_argument("--no-diffs", action="store_true", help="list the survivors without their diffs")
    parser.add_argument("--report", action="store_true", help="only report the last run's results in .mutation/")
    parser.add_argument(
        "--rerun-survivors",
        action="store_true",
        help="test the last run's survivors again, against the tests as they are now (implies --keep)",
    )
    args = parser.parse_args()

    modules = engine_modules(args.modules or list(ENGINE))
    tests = fast_test_files()
    print(f"mutating {len(modules)} module(s): {', '.join(modules)}")
    print(f"with {len(tests)} in-process test file(s); out-of-process ones are left out")
    started = time.monotonic()
    finished = True
    if args.rerun_survivors:
        again = [n for found in verdicts().values() for n, status in found.items() if status not in KILLED]
        print(f"testing {len(again)} survivor(s) of the last run again")
        prepare(modules, tests, keep=True)
        finished = run_mutmut(args.jobs, args.time_limit, again)
    elif not args.report:
        prepare(modules, tests, args.keep)
        finished = run_mutmut(args.jobs, args.time_limit)
        if finished and clean_run_failed():
            # Seen after a fresh stats collection: one test fails in mutmut's run of the unmutated
            # code and passes everywhere else (pytest, a second mutmut run that loads the stats).
            # Once more, with the stats kept; a real failure fails again and is reported below.
            print("mutmut's run of the unmutated tests failed; once more, with the stats it collected")
            finished = run_mutmut(args.jobs, args.time_limit - (time.monotonic() - started), again=True)
    elapsed = time.monotonic() - started
    results = verdicts()
    if not any(status != "not checked" for found in results.values() for status in found.values()):
        log = (WORK / "mutmut.log").read_text(errors="replace")
        print(f"mutmut checked no mutant; the end of {WORK / 'mutmut.log'}:\n{log[-3000:]}")
        return 1

    total_counts: Counter[str] = Counter()
    survivors: dict[str, list[tuple[str, str]]] = defaultdict(list)
    log_only: dict[str, int] = Counter()
    print(f"\n{'module':40} {'mutants':>8} {'killed':>8} {'log text':>9} {'score':>7}   other verdicts")
    for module, by_name in results.items():
        counts = Counter(by_name.values())
        total_counts.update(counts)
        killed = sum(counts[s] for s in KILLED)
        for name, status in by_name.items():
            if status in KILLED:
                continue
            if status != "not checked" and only_log_text(name):
                log_only[module] += 1
            else:
                survivors[module].append((name, status))
        others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED)
        scored = len(by_name) - log_only[module]
        score = 100 * killed / scored if scored else 100.0
        print(f"{module:40} {len(by_name):>8} {killed:>8} {log_only[module]:>9} {score:>6.1f}%   {others}")
    total = sum(total_counts.values())
    killed = sum(total_counts[s] for s in KILLED)
    logs = sum(log_only.values())
    print(f"{'all':40} {total:>8} {killed:>8} {logs:>9} {100 * killed / (total - logs):>6.1f}%")
    print(
        f"\nmutation score: {killed}/{total - logs} = {100 * killed / (total - logs):.1f}% killed "
        f"({logs} mutants that change only a log line's wording set aside; "
        f"{100 * killed / total:.1f}% of all {total}), in {elapsed:.0f}s"
    )
    if not finished:
        print(f"stopped by the {args.time_limit:.0f}s time limit: mutants still 'not checked' count as survivors")

    names = [name for found in survivors.values() for name, status in found if status != "not checked"]
    shown = {} if args.no_diffs else diffs(names)
    print(f"\n{sum(len(f) for f in survivors.values())} survivor(s):")
    for module, found in survivors.items():
        print(f"\n{module}" if not args.markdown else f"\n`{module}`\n")
        unchecked = [name for name, status in found if status == "not checked"]
        if unchecked:
            print(f"  ({len(unchecked)} not checked before the time limit)")
        by_function: dict[str, list[str]] = defaultdict(list)
        for name, status in found:
            if status == "not checked":
                continue
            short = name.split(".")[-1].replace("ǁ", ".").removeprefix("x.").removeprefix("x_")
            diff = shown.get(name, "")
            if args.markdown:
                function = short.split("__mutmut_")[0]
                by_function[function].append(
                    f"{changed_lines(diff) if diff else short}" + (f" ({status})" if status != "survived" else "")
                )
            else:
                print(f"  {short}: {status}")
                for line in diff.splitlines():
                    if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                        print(f"      {line}")
        for function, changes in by_function.items():
            print(f"- `{function}` ({len(changes)}): " + "; ".join(changes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
