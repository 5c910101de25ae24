"""Near copies of training digits: the flow, the CVAE and both dreams beside real digits.

For each sampler, n = 10·per_digit digits (per_digit of each class, the command at its defaults,
seed 0) go through `neuroart.copies.near_copies`: each digit's nearest MNIST training digit (pixel
L2 over all 60,000), and the share closer than the 1st percentile of real test digits' own
nearest-training distances (the threshold; real handwriting scores 1% by construction). Also the
median distance to the nearest training digit and the seconds the check took (the threshold
cached; the first run on a data source learns it from the 10,000 test digits).

    python bench/bench_novelty.py [--per-digit 200] [--only TEXT] [--save-dir DIR]

Rows: real test digits (1% by construction), real training digits (100%: exact copies),
`generate --model flow`, `generate` (the CVAE), `dream --prior none` (the pixel dream) and
`dream --prior flow`. `--save-dir` keeps each row's digits as an npz (`neuroart novelty` reads it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HEADER = f"{'digits':44s} {'n':>6s} {'near copies':>11s} {'median L2':>9s} {'check s':>7s} {'make s':>7s}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-digit", type=int, default=200)
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="run only the rows whose name contains TEXT (repeatable)")
    ap.add_argument("--save-dir", type=Path, default=None, help="keep each row's digits here as an npz")
    args = ap.parse_args()

    import numpy as np

    from neuroart.copies import near_copies, real_threshold
    from neuroart.data import load_mnist, to_float

    (xtr, _), (xt, _) = load_mnist("auto")
    t = time.perf_counter()
    threshold = real_threshold("auto")
    print(f"threshold (1st percentile of real test digits' nearest-training L2): {threshold:.3f} "
          f"({time.perf_counter() - t:.1f} s: cached after the first run)")
    print(HEADER)
    rng = np.random.default_rng(0)
    n = 10 * args.per_digit
    rows = {"real test digits (1% by construction)": lambda: to_float(xt[rng.choice(len(xt), n, replace=False)]),
            "real training digits (exact copies)": lambda: to_float(xtr[rng.choice(len(xtr), n, replace=False)]),
            **samplers(args.per_digit)}
    for name, make in rows.items():
        if args.only and not any(text in name for text in args.only):
            continue
        t = time.perf_counter()
        images = np.asarray(make(), np.float32)
        made = time.perf_counter() - t
        if args.save_dir is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            np.savez(args.save_dir / f"{name.split(' (')[0].replace(' ', '-').replace('/', '')}.npz", images=images)
        t = time.perf_counter()
        check = near_copies(images, threshold=threshold)
        print(f"{name:44s} {len(images):6d} {check.near_copy_share:11.2%} {np.median(check.distances):9.3f} "
              f"{time.perf_counter() - t:7.1f} {made:7.0f}", flush=True)


def samplers(per_digit: int) -> dict:
    """name -> make() -> images: the commands at their defaults, per_digit of each digit, seed 0."""
    import numpy as np

    from neuroart.dream import dream
    from neuroart.generate import generate

    digits = list(range(10))

    def rows(draw):  # one grid row (one digit) at a time: bounded memory, the same bytes as the whole job
        return lambda: np.concatenate([draw((i, 10)) for i in range(10)])

    return {
        "generate --model flow": lambda: generate(digits, per_digit=per_digit, seed=0, model="flow")[0],
        "generate (the cvae)": rows(lambda shard: generate(digits, per_digit=per_digit, seed=0, shard=shard)[0]),
        "dream --prior none (the pixel dream)": rows(
            lambda shard: dream(digits, per_digit=per_digit, seed=0, shard=shard, prior="none").images),
        "dream --prior flow (the flow dream)": rows(
            lambda shard: dream(digits, per_digit=per_digit, seed=0, shard=shard, prior="flow").images),
    }


if __name__ == "__main__":
    main()
