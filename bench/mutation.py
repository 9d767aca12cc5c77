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
        "pytest_add_cli_args_test_selection": tests,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    (WORK / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + "\n".join(lines) + "\n")


def run_mutmut(jobs: int, time_limit: float) -> bool:
    """Run mutmut in the scratch copy; ``False`` if the time limit stopped it first."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci"}
    log = (WORK / "mutmut.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
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
    args = parser.parse_args()

    modules = engine_modules(args.modules or list(ENGINE))
    tests = fast_test_files()
    print(f"mutating {len(modules)} module(s): {', '.join(modules)}")
    print(f"with {len(tests)} in-process test file(s); out-of-process ones are left out")
    prepare(modules, tests, args.keep)
    started = time.monotonic()
    finished = run_mutmut(args.jobs, args.time_limit)
    elapsed = time.monotonic() - started
    results = verdicts()
    if not any(status != "not checked" for found in results.values() for status in found.values()):
        log = (WORK / "mutmut.log").read_text(errors="replace")
        print(f"mutmut checked no mutant; the end of {WORK / 'mutmut.log'}:\n{log[-3000:]}")
        return 1

    total_counts: Counter[str] = Counter()
    survivors: dict[str, list[tuple[str, str]]] = defaultdict(list)
    print(f"\n{'module':40} {'mutants':>8} {'killed':>8} {'score':>7}   other verdicts")
    for module, by_name in results.items():
        counts = Counter(by_name.values())
        total_counts.update(counts)
        killed = sum(counts[s] for s in KILLED)
        others = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED)
        score = 100 * killed / len(by_name) if by_name else 100.0
        print(f"{module:40} {len(by_name):>8} {killed:>8} {score:>6.1f}%   {others}")
        for name, status in by_name.items():
            if status not in KILLED:
                survivors[module].append((name, status))
    total = sum(total_counts.values())
    killed = sum(total_counts[s] for s in KILLED)
    print(f"{'all':40} {total:>8} {killed:>8} {100 * killed / total:>6.1f}%")
    print(f"\nmutation score: {killed}/{total} = {100 * killed / total:.1f}% killed, in {elapsed:.0f}s")
    if not finished:
        print(f"stopped by the {args.time_limit:.0f}s time limit: mutants still 'not checked' count as survivors")

    names = [name for found in survivors.values() for name, _ in found]
    shown = {} if args.no_diffs else diffs(names)
    print(f"\n{len(names)} survivor(s):")
    for module, found in survivors.items():
        print(f"\n{module}" if not args.markdown else f"\n`{module}`\n")
        for name, status in found:
            short = name.split(".")[-1].replace("ǁ", ".").removeprefix("x.").removeprefix("x_")
            diff = shown.get(name, "")
            if args.markdown:
                print(f"- `{short}` ({status}): {changed_lines(diff) if diff else ''}")
            else:
                print(f"  {short}: {status}")
                for line in diff.splitlines():
                    if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
                        print(f"      {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
