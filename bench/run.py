#!/usr/bin/env python3
"""Benchmark socketapi against raw Starlette, socketapi 0.2.0 and python-socketio.

    python bench/run.py [--quick] [--servers raw,socketapi,...] [--scenarios action1,...]

Run it with the repository's own Python environment (the one that has socketapi and uvicorn):
that interpreter serves ``example_app:app`` from the repository root. Everything else is
installed by this script into virtualenvs under ``bench/`` on first use.

Each run of a scenario starts a fresh server under uvicorn pinned to CPU 0 on a free loopback
port, drives it with ``bench/loadgen.py`` pinned to CPU 1, and stops it. Repeats are
interleaved across servers so that a slow minute of a noisy machine hits all of them alike.
The table gives medians and ratios to raw Starlette; the second table shows how busy the load
generator and the server were, which tells whether the server was the bottleneck.
This script uses only the standard library.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SERVERS_DIR = BENCH / "servers"
RESULTS_DIR = BENCH / "results"
SERVER_CPU = "0"
LOADGEN_CPU = "1"
NOFILE_WANTED = 65536  # 5,000 sockets a side, with room to spare
SERVER_START_TIMEOUT = 30.0
DISTURBED = 0.08  # share of the server's core used by something other than the server (quiet runs: 0-5%)
RETRIES_WHEN_DISTURBED = 1


# --------------------------------------------------------------------------- what is measured


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # loadgen.py --kind
    metric: str
    clients: int = 1
    subscribers: int = 0
    with_p99: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("action1", "action", "replies/s", clients=1),
        Scenario("action50", "action", "replies/s", clients=50, with_p99=True),
        Scenario("fanout1000", "fanout", "deliveries/s", subscribers=1000, with_p99=True),
        Scenario("fanout5000", "fanout", "deliveries/s", subscribers=5000, with_p99=True),
        Scenario("idle_mem", "idle_mem", "KiB/conn", subscribers=2000),
    )
}
# Scenarios that have a name and a place in the table but cannot run yet.
PLANNED = {
    "fanout_redis": "fanout across two socketapi nodes joined by Redis has its own script, since only "
    "socketapi has such a backend: python bench/scaling.py (see docs/scaling.md).",
}


@dataclass(frozen=True)
class Venv:
    path: Path
    requirements: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


BENCH_VENV = Venv(BENCH / ".venv-bench", BENCH / "requirements.txt")
SOCKETAPI020_VENV = Venv(BENCH / ".venv-socketapi020", BENCH / "requirements-socketapi020.txt")


@dataclass(frozen=True)
class Server:
    name: str
    description: str
    app: str  # uvicorn's "module:attribute"
    app_dir: Path  # also the working directory, so nothing else named like the app shadows it
    dialect: str  # loadgen.py --dialect
    venv: Venv | None  # None: the repository's own interpreter
    imports: tuple[str, ...] = ()  # imported by the probe before the app, to name what is missing
    launch: str = "uvicorn"  # "uvicorn": uvicorn serves `app`; "script": `python app --port N --loop L`; "node"
    kinds: tuple[str, ...] = ("action", "fanout", "idle_mem")  # the scenario kinds it can run


SERVERS = {
    s.name: s
    for s in (
        Server("raw", "hand-written Starlette", "raw_starlette:app", SERVERS_DIR, "socketapi", BENCH_VENV),
        Server("socketapi", "this repository", "example_app:app", REPO, "socketapi", None, ("socketapi",)),
        Server("socketapi020", "0.2.0 from PyPI", "socketapi020_app:app", SERVERS_DIR, "socketapi", SOCKETAPI020_VENV),
        Server("socketio", "python-socketio, ASGI", "socketio_server:app", SERVERS_DIR, "socketio", BENCH_VENV),
        Server(
            "direct",
            "this repository, direct transport",
            "socketapi_direct.py",
            SERVERS_DIR,
            "socketapi",
            None,
            ("socketapi", "picows"),
            "script",
        ),
        Server("picows", "hand-written picows", "raw_picows.py", SERVERS_DIR, "socketapi", BENCH_VENV, (), "script"),
        Server(
            "websockets",
            "hand-written websockets (asyncio server)",
            "raw_websockets.py",
            SERVERS_DIR,
            "socketapi",
            BENCH_VENV,
            (),
            "script",
        ),
        Server("node_ws", "hand-written Node ws", "node_ws.mjs", SERVERS_DIR, "socketapi", None, (), "node"),
        # The same app as "socketapi", its subscribers speaking Phoenix V2 JSON (the publisher keeps
        # socketapi's protocol: actions have no Phoenix frame), so "phoenix" vs "socketapi" is the
        # cost of the format alone.
        Server(
            "phoenix",
            "this repository, subscribers on Phoenix V2 JSON",
            "example_app:app",
            REPO,
            "phoenix",
            None,
            ("socketapi",),
            kinds=("fanout", "idle_mem"),
        ),
    )
}
# Run unless --servers names others: the library-only servers measure what a transport could reach.
DEFAULT_SERVERS = ("raw", "socketapi", "direct", "socketapi020", "socketio", "node_ws")
FORMAT_PAIR = ("phoenix", "socketapi")  # compared directly under the tables
BASELINE = "raw"


# --------------------------------------------------------------------------- processes


class Processes:
    """Every process this script starts, so that each one is stopped by its PID whatever happens."""

    def __init__(self) -> None:
        self.live: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches only this script, which then stops the child itself.
        # Ctrl-C is held back until the child is on the list, so none can start unrecorded.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=child_setup, **kwargs)
            self.live[proc.pid] = proc
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        self.live.pop(proc.pid, None)
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for proc in list(self.live.values()):
            self.stop(proc, grace=2.0)


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def child_setup() -> None:
    """In the child before exec: undo the held-back signals, allow enough open sockets."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(hard, NOFILE_WANTED)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --------------------------------------------------------------------------- environments


def ensure_venv(env: Venv) -> Path:
    """Create or update a virtualenv from its pinned requirements; reinstall when they change."""
    stamp = env.path / ".requirements.sha256"
    digest = hashlib.sha256(env.requirements.read_bytes()).hexdigest()
    if env.python.exists() and stamp.exists() and stamp.read_text() == digest:
        return env.python
    print(f"setting up {env.path.relative_to(REPO)} from {env.requirements.relative_to(REPO)} ...", flush=True)
    if not env.python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env.path)
    pip = [str(env.python), "-m", "pip", "--disable-pip-version-check", "-q"]
    done = subprocess.run([*pip, "install", "-r", str(env.requirements)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"pip failed for {env.path}:\n{done.stdout}{done.stderr}")
    stamp.write_text(digest)
    return env.python


PROBE = """
import importlib, importlib.util, json, sys
info = {"python": sys.version.split()[0]}
try:
    for name in sys.argv[2:]:
        importlib.import_module(name)
    module, _, attribute = sys.argv[1].partition(":")
    getattr(importlib.import_module(module), attribute)
    import uvicorn
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
except Exception as exc:
    info["error"] = f"{type(exc).__name__}: {exc}"
else:
    info["uvicorn"] = uvicorn.__version__
    info["ws"] = getattr(AutoWebSocketsProtocol, "__name__", "none")
    info["uvloop"] = importlib.util.find_spec("uvloop") is not None
    try:
        info["socketapi"] = importlib.metadata.version("socketapi")
    except importlib.metadata.PackageNotFoundError:
        pass
print(json.dumps(info))
"""


SCRIPT_PROBE = """
import importlib, importlib.metadata, importlib.util, json, sys
info = {"python": sys.version.split()[0], "uvicorn": "-", "ws": "none"}
try:
    for name in sys.argv[1:]:
        importlib.import_module(name)
except Exception as exc:
    info["error"] = f"{type(exc).__name__}: {exc}"
else:
    info["uvloop"] = importlib.util.find_spec("uvloop") is not None
    for name in ("picows", "websockets"):
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
print(json.dumps(info))
"""

NODE_PROBE = (
    "import('ws').then(() => console.log(JSON.stringify({python: 'node ' + process.version, uvicorn: '-',"
    " ws: 'ws', uvloop: true})), (e) => console.log(JSON.stringify({error: String(e)})))"
)


def probe(python: Path, server: Server) -> dict[str, Any]:
    """Import the server's app in its own interpreter; report versions, or why it cannot run."""
    if server.launch == "node":
        command = ["node", "-e", NODE_PROBE]
    elif server.launch == "script":
        command = [str(python), "-c", SCRIPT_PROBE, *server.imports]
    else:
        command = [str(python), "-c", PROBE, server.app, *server.imports]
    try:
        done = subprocess.run(
            command,
            cwd=server.app_dir,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError as exc:
        return {"error": str(exc)}
    try:
        info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        info = {"error": (done.stderr.strip().splitlines() or ["the probe printed nothing"])[-1]}
    return info


# --------------------------------------------------------------------------- one measurement


@dataclass
class Settings:
    repeats: int
    action_duration: float
    fanout_duration: float
    warmup: float
    loop: str
    loadgen_python: Path


def run_once(procs: Processes, server: Server, python: Path, scenario: Scenario, settings: Settings) -> dict[str, Any]:
    """Start a fresh server, run the load generator against it, stop the server; return the result."""
    port = free_port()
    cmd = ["taskset", "-c", SERVER_CPU]
    if server.launch == "node":
        cmd += ["node", str(server.app_dir / server.app), "--host", "127.0.0.1", "--port", str(port)]
    elif server.launch == "script":
        cmd += [str(python), str(server.app_dir / server.app), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--loop", settings.loop]
    else:
        cmd += [str(python), "-m", "uvicorn", server.app, "--app-dir", str(server.app_dir)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--loop", settings.loop]
        cmd += ["--log-level", "warning", "--no-access-log", "--lifespan", "on"]
    duration = settings.fanout_duration if scenario.kind == "fanout" else settings.action_duration
    with tempfile.TemporaryFile() as log:
        proc = procs.start(cmd, cwd=server.app_dir, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(proc, port, log)
            loadgen = [
                "taskset", "-c", LOADGEN_CPU, str(settings.loadgen_python), str(BENCH / "loadgen.py"),
                "--port", str(port), "--dialect", server.dialect, "--server-pid", str(proc.pid),
                "--kind", scenario.kind, "--name", scenario.name, "--duration", str(duration),
                "--warmup", str(settings.warmup), "--clients", str(scenario.clients),
                "--subscribers", str(scenario.subscribers),
            ]  # fmt: skip
            gen = procs.start(loadgen, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out, err = gen.communicate(timeout=duration + 180)
            finally:
                procs.stop(gen)
            if gen.returncode != 0 or not out.strip():
                message = err.decode(errors="replace").strip() or f"the load generator exited {gen.returncode}"
                raise RunFailed(message.splitlines())
            if proc.poll() is not None:
                raise RunFailed(["the server exited during the run", *tail(log)])
        finally:
            procs.stop(proc)
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


class RunFailed(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines[-12:]))


def tail(log: Any, lines: int = 12) -> list[str]:
    log.seek(0)
    text: str = log.read().decode(errors="replace")
    return text.strip().splitlines()[-lines:]


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Any, timeout: float = SERVER_START_TIMEOUT) -> None:
    """uvicorn listens only once the app's startup has run, so a connect means ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunFailed([f"the server exited with {proc.returncode} before listening", *tail(log)])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RunFailed([f"the server did not listen within {timeout:.0f} s", *tail(log)])


# --------------------------------------------------------------------------- the table


@dataclass
class Cell:
    """The runs of one server in one scenario. Figures come from the runs that had the server's
    core to themselves when there is any such run, from all runs otherwise (then marked *)."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def counted(self) -> list[dict[str, Any]]:
        clean = [run for run in self.runs if run.get("disturbed", 0.0) <= DISTURBED]
        return clean or self.runs

    @property
    def disturbed(self) -> bool:
        return any(run.get("disturbed", 0.0) > DISTURBED for run in self.counted)

    def values(self, key: str) -> list[float]:
        if key == "per_cpu":  # work per second of the server's own CPU time
            return [run["value"] / run["server_cpu"] for run in self.counted if run.get("server_cpu")]
        return [run[key] for run in self.counted if run.get(key) is not None]

    def median(self, key: str) -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None

    def spread(self, key: str) -> float | None:
        """Half the range across the counted runs, as a share of their median."""
        values = self.values(key)
        middle = statistics.median(values) if values else 0
        return (max(values) - min(values)) / 2 / abs(middle) if len(values) > 1 and middle else None


def fmt_value(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def print_tables(scenarios: list[Scenario], names: list[str], cells: dict[tuple[str, str], Cell], repeats: int) -> None:
    width = 24
    print()
    print(f"Medians of {repeats} run(s); ±: half the range across runs; x: ratio to {BASELINE}.")
    print((f"{'scenario':<12}{'metric':<14}" + "".join(f"{n:<{width}}" for n in names)).rstrip())
    for scenario in scenarios:
        rows = [(scenario.metric, "value")] + ([("p99 ms", "p99_ms")] if scenario.with_p99 else [])
        for label, key in rows:
            line = f"{scenario.name:<12}{label:<14}"
            base = cells[(BASELINE, scenario.name)].median(key) if BASELINE in names else None
            for name in names:
                cell = cells[(name, scenario.name)]
                value = cell.median(key)
                if value is None:
                    text = "failed" if cell.failures else "-"
                else:
                    text = fmt_value(value)
                    spread = cell.spread(key)
                    if spread is not None:
                        text += f" ±{spread:.0%}"
                    if base and name != BASELINE:
                        text += f"  {value / base:.2f}x"
                    if cell.failures:
                        text += f" ({len(cell.runs)}/{len(cell.runs) + len(cell.failures)} ok)"
                    if cell.disturbed:
                        text += " *"
                    elif len(cell.counted) < len(cell.runs):
                        text += f" ({len(cell.counted)}/{len(cell.runs)})"
                line += f"{text:<{width}}"
            print(line.rstrip())
    print("x above 1 is better for replies/s and deliveries/s; below 1 is better for p99 ms and KiB/conn.")
    if any(run.get("disturbed", 0.0) > DISTURBED for cell in cells.values() for run in cell.runs):
        starred = any(cell.disturbed for cell in cells.values())
        print(
            f"Runs in which other work took over {DISTURBED:.0%} of the server's core are left out of a cell that has"
            + (
                " other runs (n/N: runs counted); *: one that has none, so less sure."
                if starred
                else " other runs (n/N)."
            )
        )
    print_format_ratios(scenarios, names, cells)
    print_paired(scenarios, names, cells)
    print()
    print(f"Per second of the server's own CPU time (median over counted runs; x: ratio to {BASELINE}):")
    print("figures that hold up when other work shares the server's core, for throughput scenarios")
    print((f"{'scenario':<26}" + "".join(f"{n:<{width}}" for n in names)).rstrip())
    for scenario in scenarios:
        if scenario.kind == "idle_mem":
            continue
        per_cpu = {name: cells[(name, scenario.name)].median("per_cpu") for name in names}
        base = per_cpu.get(BASELINE)
        line = f"{scenario.name:<26}"
        for name in names:
            value = per_cpu[name]
            text = "-" if value is None else fmt_value(value)
            if value is not None and base and name != BASELINE:
                text += f"  {value / base:.2f}x"
            line += f"{text:<{width}}"
        print(line.rstrip())
    print()
    print("CPU over the measured window, share of one core (median): load generator / server")
    print((f"{'scenario':<26}" + "".join(f"{n:<{width}}" for n in names)).rstrip())
    for scenario in scenarios:
        line = f"{scenario.name:<26}"
        for name in names:
            cell = cells[(name, scenario.name)]
            own, srv = cell.median("loadgen_cpu"), cell.median("server_cpu")
            line += f"{(f'{own:.0%} / {srv:.0%}' if own is not None and srv is not None else '-'):<{width}}"
        print(line.rstrip())


def paired_ratios(cell: Cell, base: Cell, key: str = "value") -> list[float]:
    """Each run against the baseline's run of the same repeat (run just before it, on the same core)."""
    before = {run.get("repeat", i): run for i, run in enumerate(base.runs, 1)}  # (older files: by position)
    ratios = []
    for i, run in enumerate(cell.runs, 1):
        other = before.get(run.get("repeat", i))
        if other is not None and other.get(key) and run.get(key) is not None:
            ratios.append(run[key] / other[key])
    return ratios


def print_paired(scenarios: list[Scenario], names: list[str], cells: dict[tuple[str, str], Cell]) -> None:
    """Ratios taken pair by pair: a slow minute of a shared machine hits both runs of a pair alike,
    so their median moves less than the ratio of two medians does."""
    others = [name for name in names if name != BASELINE]
    if BASELINE not in names or not others:
        return
    lines = []
    for scenario in scenarios:
        line = f"{scenario.name:<26}"
        for name in others:
            ratios = paired_ratios(cells[(name, scenario.name)], cells[(BASELINE, scenario.name)])
            text = "-"
            if ratios:
                text = f"{statistics.median(ratios):.2f}x"
                if len(ratios) > 1:
                    text += f" [{min(ratios):.2f}-{max(ratios):.2f}]"
            line += f"{text:<24}"
        lines.append(line.rstrip())
    print()
    print(f"Paired: each run / {BASELINE}'s run of the same repeat, median [lowest-highest]:")
    print((f"{'scenario':<26}" + "".join(f"{n:<24}" for n in others)).rstrip())
    print("\n".join(lines))


def print_format_ratios(scenarios: list[Scenario], names: list[str], cells: dict[tuple[str, str], Cell]) -> None:
    """The Phoenix format against socketapi's own, same app, same pass: the format's cost alone."""
    ours, theirs = FORMAT_PAIR[1], FORMAT_PAIR[0]
    if ours not in names or theirs not in names:
        return
    figures = []
    for scenario in scenarios:
        for label, key in [(scenario.metric, "value")] + ([("p99", "p99_ms")] if scenario.with_p99 else []):
            mine, other = cells[(ours, scenario.name)].median(key), cells[(theirs, scenario.name)].median(key)
            if mine and other is not None:
                figures.append(f"{scenario.name} {label} {other / mine:.2f}x")
        if scenario.kind == "fanout":  # per second of the server's CPU: what a shared core cannot blur as much
            mine_cpu, other_cpu = (cells[(n, scenario.name)].median("per_cpu") for n in (ours, theirs))
            if mine_cpu and other_cpu is not None:
                figures.append(f"{scenario.name} per server CPU-second {other_cpu / mine_cpu:.2f}x")
    if figures:
        print(f"{theirs} / {ours} (subscribers on Phoenix V2 JSON vs socketapi's protocol): " + ", ".join(figures))


# --------------------------------------------------------------------------- main


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def parse_list(text: str, known: dict[str, Any], extra: dict[str, str] | None = None) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    allowed = [*known, *(extra or {})]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return names


@dataclass(frozen=True)
class Ready:
    """A server that imports in its interpreter, with what the probe found."""

    server: Server
    python: Path
    info: dict[str, Any]


def prepare(names: list[str], socketapi_python: Path) -> list[Ready]:
    """Set up each server's environment and probe it; skip, with a note, a server that cannot run."""
    ready = []
    for name in names:
        server = SERVERS[name]
        if server.venv is SOCKETAPI020_VENV and sys.version_info < (3, 11):
            print(f"note: {name} skipped: socketapi 0.2.0 needs Python 3.11 or newer")
            continue
        python = ensure_venv(server.venv) if server.venv else socketapi_python
        info = probe(python, server)
        if "error" in info:
            print(f"note: {name} skipped: {server.app} does not import with {python} ({info['error']})")
            continue
        ready.append(Ready(server, python, info))
    return ready


def print_header(ready: list[Ready], loop: str) -> None:
    print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}")
    print(f"server on CPU {SERVER_CPU} (loop {loop}), load generator on CPU {LOADGEN_CPU} (picows)")
    for entry in ready:
        info = entry.info
        version = (
            f", socketapi {info['socketapi']}" if "socketapi" in info and entry.server.venv is not BENCH_VENV else ""
        )
        if entry.server.launch == "uvicorn":
            stack = f"uvicorn {info['uvicorn']} ({info['ws']})"
        else:
            stack = ", ".join(f"{name} {info[name]}" for name in ("picows", "websockets") if name in info) or "-"
        python = info["python"] if entry.server.launch == "node" else f"Python {info['python']}"
        print(f"  {entry.server.name:<13} {entry.server.description}: {python}, {stack}{version}")


def disturbance(scenario: Scenario, result: dict[str, Any]) -> float:
    """How much of the server's core went to other work during the run (memory is not affected)."""
    if scenario.kind == "idle_mem":
        return 0.0
    return max(0.0, float(result["server_core_busy"]) - float(result["server_cpu"]))


def measure(ready: list[Ready], scenarios: list[Scenario], settings: Settings) -> dict[tuple[str, str], Cell]:
    """Every scenario, each repeat across all servers in turn, one fresh server per run.

    A run whose server shared its core with other work is run again, once, and the quieter of
    the two is kept; one still disturbed is marked so in the table.
    """
    cells = {(entry.server.name, scenario.name): Cell() for entry in ready for scenario in scenarios}
    procs = Processes()
    try:
        for scenario in scenarios:
            for rep in range(1, settings.repeats + 1):
                for entry in ready:
                    if scenario.kind not in entry.server.kinds:
                        continue
                    cell = cells[(entry.server.name, scenario.name)]
                    where = f"{scenario.name:<11} {entry.server.name:<13} run {rep}/{settings.repeats}"
                    kept: dict[str, Any] | None = None
                    for attempt in range(1 + RETRIES_WHEN_DISTURBED):
                        try:
                            result = run_once(procs, entry.server, entry.python, scenario, settings)
                        except (RunFailed, subprocess.TimeoutExpired, ValueError) as exc:
                            print(f"{where}: FAILED\n    " + str(exc).replace("\n", "\n    "), flush=True)
                            if kept is None:
                                cell.failures.append(str(exc))
                            break
                        result["disturbed"] = round(disturbance(scenario, result), 3)
                        result["repeat"] = rep
                        print(f"{where}: {describe(result)}", flush=True)
                        if kept is None or result["disturbed"] < kept["disturbed"]:
                            kept = result
                        if kept["disturbed"] <= DISTURBED:
                            break
                        if attempt < RETRIES_WHEN_DISTURBED:
                            print(f"{where}: other work shared the server's core; running it again", flush=True)
                    if kept is not None:
                        cell.runs.append(kept)
    finally:
        procs.stop_all()
    return cells


def describe(result: dict[str, Any]) -> str:
    p99 = f", p99 {result['p99_ms']:.2f} ms" if result.get("p99_ms") is not None else ""
    return (
        f"{fmt_value(result['value'])} {result['metric']}{p99}  (cpu: loadgen {result['loadgen_cpu']:.0%},"
        f" server {result['server_cpu']:.0%}, server's core busy {result['server_core_busy']:.0%})"
    )


def print_notes(cells: dict[tuple[str, str], Cell]) -> None:
    for (name, scenario_name), cell in cells.items():
        before = sum(run.get("frames_before_subscribed", 0) for run in cell.runs)
        strays = sum(run.get("stray_frames", 0) for run in cell.runs)
        if before or strays:
            print(
                f"note: {name} in {scenario_name}: {before} frame(s) before 'subscribed', {strays} frame(s) to"
                " subscribers that were not the broadcast in flight (initial data?); all were ignored"
            )


def save(ready: list[Ready], settings: Settings, cells: dict[tuple[str, str], Cell]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / time.strftime("run-%Y%m%d-%H%M%S.json")
    document = {
        "settings": {**vars(settings), "loadgen_python": str(settings.loadgen_python)},
        "servers": {entry.server.name: entry.info for entry in ready},
        "results": [
            {"server": name, "scenario": scenario_name, "runs": cell.runs, "failures": cell.failures}
            for (name, scenario_name), cell in cells.items()
        ],
    }
    path.write_text(json.dumps(document, indent=1))
    return path


def show(path: Path) -> int:
    """Print the tables of a run saved in bench/results/ again."""
    document = json.loads(path.read_text())
    cells = {(r["server"], r["scenario"]): Cell(r["runs"], r["failures"]) for r in document["results"]}
    names = list(dict.fromkeys(server for server, _ in cells))
    scenarios = [SCENARIOS[name] for name in dict.fromkeys(scenario for _, scenario in cells)]
    print_tables(scenarios, names, cells, document["settings"]["repeats"])
    print_notes(cells)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run of each, shorter windows (about 2 minutes)")
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        type=lambda t: parse_list(t, SERVERS),
        help=f"comma-separated, from {', '.join(SERVERS)}",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        type=lambda t: parse_list(t, SCENARIOS, PLANNED),
        help=f"comma-separated, from {', '.join([*SCENARIOS, *PLANNED])}",
    )
    parser.add_argument("--repeats", type=int, help="runs of each scenario per server (default 3, 1 with --quick)")
    parser.add_argument("--duration", type=float, help="measured seconds of each action and fanout run")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default="auto", help="the servers' loop")
    parser.add_argument(
        "--socketapi-python",
        type=Path,
        default=Path(sys.executable),
        help="interpreter that serves example_app:app (default: the one running this script)",
    )
    parser.add_argument("--show", type=Path, metavar="RESULTS_JSON", help="print the tables of a saved run and exit")
    args = parser.parse_args()
    if args.show:
        return show(args.show)
    # Ctrl-C and a kill both end in `finally` blocks that stop every child (Ctrl-C even where the
    # shell started this script with SIGINT ignored, as it does for background jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    for name in args.scenarios:
        if name in PLANNED:
            print(f"note: {name} skipped: {PLANNED[name]}")
    scenarios = [SCENARIOS[name] for name in args.scenarios if name in SCENARIOS]
    if not scenarios:
        return 0
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two CPUs: the server runs on CPU 0 and the load generator on CPU 1")

    loadgen_python = ensure_venv(BENCH_VENV)
    ready = prepare(args.servers, args.socketapi_python)
    if not ready:
        sys.exit("no server to run")
    loop = args.loop
    if loop == "auto":
        loop = "uvloop" if all(entry.info["uvloop"] for entry in ready) else "asyncio"
        if loop == "asyncio":
            print("note: uvloop is missing from a server's environment; every server runs on asyncio's loop")
    settings = Settings(
        repeats=args.repeats or (1 if args.quick else 3),
        action_duration=args.duration or (1.0 if args.quick else 5.0),
        fanout_duration=args.duration or (1.0 if args.quick else 3.0),
        warmup=0.25 if args.quick else 0.5,
        loop=loop,
        loadgen_python=loadgen_python,
    )
    print_header(ready, loop)

    started = time.monotonic()
    try:
        cells = measure(ready, scenarios, settings)
    except KeyboardInterrupt:
        print("\ninterrupted; every process started was stopped")
        return 130
    print_tables(scenarios, [entry.server.name for entry in ready], cells, settings.repeats)
    print_notes(cells)
    path = save(ready, settings, cells)
    print(f"\n{time.monotonic() - started:.0f} s; every run is in {path.relative_to(REPO)}")
    return 1 if any(cell.failures for cell in cells.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
