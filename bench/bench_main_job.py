"""What the main jobs cost as whole processes: wall time beside TensorFlow's import, and peak memory (issue 24).

Time: each command runs as a fresh process, in turn with the others and with
``python -c "import tensorflow, keras"`` (round after round, so a busy moment of the machine
falls on all of them alike); the median of `--runs` rounds is printed, and its ratio to the
import's median: the issue's targets read "x times the import, run in turn on the same machine".

- ``neuroart dream`` (its defaults: 8 dreams of each digit)
- ``neuroart dream --prior none`` (the pixel dream)
- ``neuroart generate --model flow`` (its defaults: 100 digits)
- the same, as the first run on a machine: with an empty graph cache
  (`neuroart.generate.flow_graph`: the flow's traced graph is kept between runs; a warm-up round
  before the timed ones fills it, as any earlier run on the machine would)

Memory: the peak resident set (``ru_maxrss`` of the waited process, its children included) of
``neuroart dream --per-digit 200`` and ``neuroart generate --model flow --per-digit 1000 --no-grid``
(the issue's bound: 2 GB each).

Every command writes its pictures into a temporary folder, removed afterwards.

    python bench/bench_main_job.py [--runs 3] [--no-time] [--no-memory]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

IMPORT = ("import tensorflow, keras", [sys.executable, "-c", "import tensorflow, keras"])
NEUROART = [sys.executable, "-m", "neuroart"]
TIMED = {
    "neuroart dream": ["dream"],
    "neuroart dream --prior none": ["dream", "--prior", "none"],
    "neuroart dream --prior auto (the pixel dream, the default before the few-step flow)": ["dream", "--prior", "auto"],
    "neuroart generate --model flow": ["generate", "--model", "flow"],
}
#: Timed as well, each run with a new, empty cache folder (``XDG_CACHE_HOME``).
COLD = {"neuroart generate --model flow, first run (empty graph cache)": ["generate", "--model", "flow"]}
MEMORY = {
    "neuroart dream --per-digit 200": ["dream", "--per-digit", "200"],
    # 10,000 digits are too many for a grid: the npz alone, as the CLI advises
    "neuroart generate --model flow --per-digit 1000 --no-grid": ["generate", "--model", "flow", "--per-digit", "1000",
                                                                   "--no-grid"],
}

WIDTH = max(map(len, [*TIMED, *COLD, *MEMORY]))


def run(cmd: list[str], cwd: str, env: dict | None = None) -> tuple[float, int]:
    """Run `cmd` in `cwd`; returns (wall seconds, peak RSS in bytes). Exits on a failing command."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (its waited children included)
    seconds = time.perf_counter() - t
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no message)"]
        raise SystemExit(f"error: {' '.join(cmd)} failed: {last[0]}")
    return seconds, usage.ru_maxrss * 1024  # Linux reports kilobytes


def times(runs: int, tmp: str) -> None:
    jobs = dict([IMPORT, *((name, NEUROART + args + _out(args, tmp)) for name, args in [*TIMED.items(), *COLD.items()])])
    taken: dict[str, list[float]] = {name: [] for name in jobs}
    for name in TIMED:  # the warm-up round: the graph cache filled, as by any earlier run
        run(jobs[name], tmp)
    for i in range(runs):
        for name, cmd in jobs.items():  # in turn
            env = {**os.environ, "XDG_CACHE_HOME": tempfile.mkdtemp(prefix=f"cold-{i}-", dir=tmp)} if name in COLD else None
            taken[name].append(run(cmd, tmp, env)[0])
    base = statistics.median(taken[IMPORT[0]])
    print(f"{'whole process (median of ' + str(runs) + ', run in turn)':{WIDTH}s} {'seconds':>8s} {'x import':>9s}  runs")
    for name, ts in taken.items():
        med = statistics.median(ts)
        print(f"{name:{WIDTH}s} {med:8.2f} {med / base:8.2f}x  {' '.join(f'{t:.1f}' for t in ts)}", flush=True)


def memory(tmp: str) -> None:
    print(f"{'peak memory':{WIDTH}s} {'GB':>8s} {'seconds':>9s}")
    for name, args in MEMORY.items():
        seconds, peak = run(NEUROART + args + _out(args, tmp), tmp)
        print(f"{name:{WIDTH}s} {peak / 1e9:8.2f} {seconds:9.1f}", flush=True)


def _out(args: list[str], tmp: str) -> list[str]:
    if "--no-grid" in args:
        return ["--npz", os.path.join(tmp, f"{args[0]}.npz")]
    return ["--out", os.path.join(tmp, f"{args[0]}.png")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds of the timed commands (the median is printed)")
    ap.add_argument("--no-time", action="store_true", help="skip the timing")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak memory")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-main-job-") as tmp:
        if not args.no_time:
            times(args.runs, tmp)
        if not args.no_memory:
            memory(tmp)


if __name__ == "__main__":
    main()
