"""`neuroart dataset` throughput: 1 process vs N processes with --shard, and memory per process.

Each process runs the real command (``neuroart dataset FOLDER --count N --shard I/N``) in a
fresh Python and reports its wall time, the time after TensorFlow's start-up, and its peak
resident memory (ru_maxrss). Printed side by side:

- digits/s for 1 process and for `--procs` processes splitting the files with --shard
  (wall clock from launch to the last process's exit, start-up included, and the making alone);
- whether the split run wrote the same bytes as the single one (manifest and every file);
- peak memory per process for two dataset sizes (`--count` and `--small`): flat in the size,
  since one file of `--shard-size` digits is in memory at a time.

    python bench/bench_dataset.py [--count 100000] [--small 20000] [--shard-size 10000] [--procs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from neuroart._util import tf
tf()
from neuroart.cli import main
t1 = time.perf_counter()
main.main(args=sys.argv[1:], prog_name="neuroart", standalone_mode=False)
t2 = time.perf_counter()
print(json.dumps({"startup": t1 - t0, "make": t2 - t1,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(folder: Path, count: int, shard_size: int, procs: int) -> dict:
    """Launch `procs` processes (--shard i/procs), wait for all; wall time and each one's report."""
    args = ["dataset", str(folder), "--count", str(count), "--shard-size", str(shard_size), "-q"]
    start = time.perf_counter()
    ps = [subprocess.Popen([sys.executable, "-c", CHILD, *args, *(["--shard", f"{i}/{procs}"] if procs > 1 else [])],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(procs)]
    reports = []
    for p in ps:
        out, err = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise SystemExit(f"dataset process failed:\n{err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - start
    return {"wall": wall, "make": max(r["make"] for r in reports), "startup": max(r["startup"] for r in reports),
            "maxrss_mb": [r["maxrss_mb"] for r in reports]}


def same_bytes(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=20_000, help="the second size, for the memory comparison")
    ap.add_argument("--shard-size", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs; the best of each is shown")
    args = ap.parse_args()

    def best(a, b):
        return b if a is None else {"wall": min(a["wall"], b["wall"]), "make": min(a["make"], b["make"]),
                                    "startup": min(a["startup"], b["startup"]),
                                    "maxrss_mb": [max(x, y) for x, y in zip(a["maxrss_mb"], b["maxrss_mb"], strict=True)]}

    one = many = None
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for r in range(args.repeats):  # alternate, keep the best of each (other jobs share the machine)
            one = best(one, run(tmp / f"one{r}", args.count, args.shard_size, 1))
            many = best(many, run(tmp / f"many{r}", args.count, args.shard_size, args.procs))
            same = same_bytes(tmp / f"one{r}", tmp / f"many{r}") and (r == 0 or same)
            shutil.rmtree(tmp / f"many{r}")
            if r:
                shutil.rmtree(tmp / f"one{r}")
        small = run(tmp / "small", args.small, args.shard_size, 1)

    n = args.count
    print(f"neuroart dataset: {n:,} digits in files of {args.shard_size:,} (cvae, uint8), "
          f"best of {args.repeats} alternating runs")
    print(f"{'':24}{'1 process':>14}{f'{args.procs} processes':>16}")
    print(f"{'wall (s)':24}{one['wall']:14.1f}{many['wall']:16.1f}")
    print(f"{'digits/s, wall':24}{n / one['wall']:14,.0f}{n / many['wall']:16,.0f}")
    print(f"{'start-up (s)':24}{one['startup']:14.1f}{many['startup']:16.1f}")
    print(f"{'digits/s, after start':24}{n / one['make']:14,.0f}{n / many['make']:16,.0f}")
    print(f"{'peak memory/process MB':24}{one['maxrss_mb'][0]:14.0f}{max(many['maxrss_mb']):16.0f}")
    print(f"split run wrote the same bytes as the single run: {'yes' if same else 'NO'}")
    print(f"peak memory, 1 process: {args.small:,} digits {small['maxrss_mb'][0]:.0f} MB, "
          f"{n:,} digits {one['maxrss_mb'][0]:.0f} MB (ratio {one['maxrss_mb'][0] / small['maxrss_mb'][0]:.2f} "
          f"for {n / args.small:.0f}x the digits)")


if __name__ == "__main__":
    main()
