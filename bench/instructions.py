"""Instructions per reply or delivery, counted by valgrind's callgrind: a benchmark a busy machine cannot blur.

    python bench/instructions.py [--servers raw,socketapi] [--scenarios action50,fanout1000] [--loop asyncio]

Each server of ``bench/run.py`` (same apps, same virtualenvs, same load generator) is started
under ``valgrind --tool=callgrind`` with instrumentation off; the load generator connects, warms
up, and instrumentation is switched on for the measured window only. The figure is the
server's instructions in that window divided by the replies (or deliveries) the load generator
counted in it, so imports, start-up and connection set-up are left out.

Wall-clock throughput (``bench/run.py``) is what users feel, but on a shared two-core machine it
swings with the neighbours' load. An instruction count does not: the same code, input and
environment give the same count within a fraction of a percent whatever else runs, so a change
of a few percent in the engine's cost shows here long before ``run.py`` can tell it from noise.
It counts work, not time: cache misses and system-call latency are not in it, and a server
under valgrind runs about fifty times slower, so it always has work queued (the figure is that
of a saturated server). The ratio to ``raw`` is the one to quote.

Needs ``valgrind`` (Debian's package) and what ``bench/run.py`` needs; only loopback traffic,
every run bounded by time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # (bench/ is not a package: run.py is imported from its folder)
    BENCH,
    BENCH_VENV,
    SCENARIOS,
    SERVERS,
    Processes,
    RunFailed,
    ensure_venv,
    free_port,
    parse_list,
    prepare,
    wait_listening,
)

WARMUP = 3.0  # seconds after every client is connected, before counting starts
WINDOW = 15.0  # seconds counted (fan-out: give it 40 or more, --window; 15 s hold only about ten rounds)


def callgrind(pid: int, state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(pid)], capture_output=True, check=True)


def measure(
    procs: Processes,
    python: Path,
    name: str,
    scenario_name: str,
    loop: str,
    loadgen: Path,
    cache_sim: bool = False,
    window: float = WINDOW,
) -> dict[str, float]:
    """Callgrind's events per reply (or delivery) of one server in one scenario: ``Ir`` (instructions),
    and with ``cache_sim`` the simulated caches' misses (``I1mr``, ``D1mr``, ``DLmr``, ...) and
    branch mispredictions (``Bcm`` conditional, ``Bim`` indirect)."""
    server, scenario = SERVERS[name], SCENARIOS[scenario_name]
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        if cache_sim:
            cmd += ["--cache-sim=yes", "--branch-sim=yes"]
        if server.launch == "script":
            cmd += [str(python), str(server.app_dir / server.app), "--host", "127.0.0.1", "--port", str(port)]
            cmd += ["--loop", loop]
        else:
            cmd += [str(python), "-m", "uvicorn", server.app, "--app-dir", str(server.app_dir)]
            cmd += ["--host", "127.0.0.1", "--port", str(port), "--loop", loop]
            cmd += ["--log-level", "warning", "--no-access-log", "--lifespan", "on"]
        with tempfile.TemporaryFile() as log:
            proc = procs.start(cmd, cwd=server.app_dir, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_listening(proc, port, log, timeout=300.0)
                loadgen_cmd = [str(loadgen), str(BENCH / "loadgen.py"), "--port", str(port), "--mark-window"]
                loadgen_cmd += ["--dialect", server.dialect, "--server-pid", str(proc.pid), "--kind", scenario.kind]
                loadgen_cmd += ["--name", scenario.name, "--duration", str(window), "--warmup", str(WARMUP)]
                loadgen_cmd += ["--clients", str(scenario.clients), "--subscribers", str(scenario.subscribers)]
                gen = procs.start(loadgen_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                assert gen.stderr is not None
                # Count exactly the load generator's window: it says when it starts and stops.
                # (callgrind_control takes a moment either way, so both ends shift alike.)
                for line in gen.stderr:
                    if b"window start" in line:
                        callgrind(proc.pid, "on")
                    elif b"window stop" in line:
                        callgrind(proc.pid, "off")
                        break
                out_text, _ = gen.communicate(timeout=600)
                procs.live.pop(gen.pid, None)
            finally:
                procs.stop(proc, grace=60.0)
        result = json.loads(out_text.decode().strip().splitlines()[-1])
        counted = result["value"] * result["window_s"]
        # ("summary:" in the header is written before anything was counted; "totals:" closes the file.)
        lines = out.read_text().splitlines()
        events = next(line.split()[1:] for line in lines if line.startswith("events:"))
        totals = next(line.split()[1:] for line in lines if line.startswith("totals:"))
    return {event: int(total) / counted for event, total in zip(events, totals, strict=False)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="raw,socketapi")
    parser.add_argument("--scenarios", default="action50,fanout1000")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--socketapi-python", type=Path, default=Path(sys.executable))
    parser.add_argument(
        "--cache-sim",
        action="store_true",
        help="also simulate the caches and the branch predictor: misses and mispredictions per op",
    )
    parser.add_argument("--window", type=float, default=WINDOW, help="seconds counted per run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("needs valgrind (apt-get install valgrind)")
    names = parse_list(args.servers, SERVERS)
    scenarios = [s for s in parse_list(args.scenarios, SCENARIOS) if SCENARIOS[s].kind != "idle_mem"]
    loadgen = ensure_venv(BENCH_VENV)
    ready = {r.server.name: r for r in prepare(names, args.socketapi_python)}
    procs = Processes()
    figures: dict[tuple[str, str], dict[str, float]] = {}
    shown = ("Ir", "I1mr", "D1mr", "DLmr", "Bcm", "Bim") if args.cache_sim else ("Ir",)
    try:
        for scenario in scenarios:
            for name, r in ready.items():
                if SCENARIOS[scenario].kind not in r.server.kinds:
                    continue
                try:
                    figures[name, scenario] = measure(
                        procs, r.python, name, scenario, args.loop, loadgen, args.cache_sim, args.window
                    )
                except (RunFailed, subprocess.SubprocessError, ValueError, StopIteration) as exc:
                    print(f"{scenario} {name}: failed ({exc})", flush=True)
                    continue
                counts = "  ".join(f"{event} {figures[name, scenario].get(event, 0):,.1f}" for event in shown)
                print(f"{scenario:<11} {name:<13} {counts} per op", flush=True)
    finally:
        procs.stop_all()
    for event in shown:
        what = {
            "Ir": "Instructions",
            "I1mr": "L1 instruction cache misses",
            "D1mr": "L1 data read misses",
            "DLmr": "Last-level data read misses",
            "Bcm": "Mispredicted conditional branches",
            "Bim": "Mispredicted indirect branches",
        }[event]
        print(f"\n{what} per reply (action*) or delivery (fanout*), loop {args.loop}; x: ratio to raw")
        print(f"{'scenario':<11} " + " ".join(f"{name:>22}" for name in ready))
        for scenario in scenarios:
            base = figures.get(("raw", scenario), {}).get(event)
            cells = []
            for name in ready:
                value = figures.get((name, scenario), {}).get(event)
                if value is None:
                    cells.append(f"{'-':>22}")
                elif not base or name == "raw":
                    cells.append(f"{value:>22,.1f}")
                else:
                    cells.append(f"{f'{value:,.1f}  {value / base:.2f}x':>22}")
            print(f"{scenario:<11} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
