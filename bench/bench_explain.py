"""Attribution faithfulness and speed: deletion AUC of every method against a random order.

On the same 1,000 MNIST test digits (seeded), for the article's ``mlp`` and for the reader
(``reader`` when ``neuroart/weights/reader.keras`` exists, else the ``cnn``), prints the deletion
AUC (Petsiuk et al. 2018: pixels set to 0 in order of attribution, the explained class's
probability tracked; lower = more faithful) of each method and of a random order, the ratio of the
default method to random (target <= 0.5 on mlp), and the time to explain 100 digits once the
model is loaded (target < 2 s; best of `--repeats`).

    python bench/bench_explain.py [--n 1000] [--repeats 3] [--models mlp,reader]
"""

from __future__ import annotations

import argparse
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="test digits scored")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=28, help="deletion steps (784 / steps pixels each)")
    ap.add_argument("--models", default="mlp,reader")
    args = ap.parse_args()

    import numpy as np

    from neuroart.data import load_mnist, to_float
    from neuroart.explain import DEFAULT_METHOD, METHODS, explain
    from neuroart.metrics import deletion_auc
    from neuroart.models import WEIGHTS_DIR, load_model

    _, (xt, yt) = load_mnist()
    idx = np.random.default_rng(0).choice(len(xt), args.n, replace=False)
    x = to_float(xt[idx])
    rows = []
    for name in args.models.split(","):
        if name == "reader":
            name = "reader" if (WEIGHTS_DIR / "reader.keras").is_file() else "cnn"
        t = time.perf_counter()
        net = load_model(name)
        print(f"\n{name}: loaded in {time.perf_counter() - t:.2f} s; {args.n} test digits (seed 0), "
              f"deletion in {args.steps} steps")
        rnd = np.random.default_rng(1).random((len(x), 28, 28)).astype(np.float32)
        targets = explain(x, model=net, method="gradient").targets
        random_auc = deletion_auc(net, x, rnd, targets, steps=args.steps)
        print(f"  {'method':<12}{'deletion AUC':>14}{'/ random':>10}{'100 digits':>12}")
        print(f"  {'random':<12}{random_auc:>14.4f}{1.0:>10.2f}{'':>12}")
        for method in METHODS:
            explain(x[:100], model=net, method=method)  # warm-up: the one trace
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                explain(x[:100], model=net, method=method)
                times.append(time.perf_counter() - t)
            ex = explain(x, model=net, method=method)
            auc = deletion_auc(net, x, ex.maps, ex.targets, steps=args.steps)
            mark = " (default)" if method == DEFAULT_METHOD else ""
            print(f"  {method:<12}{auc:>14.4f}{auc / random_auc:>10.2f}{min(times):>10.3f} s{mark}")
            rows.append((name, method, auc, random_auc, min(times)))
    for name, method, auc, random_auc, secs in rows:
        if method == DEFAULT_METHOD:
            ok = "ok" if auc <= 0.5 * random_auc else "MISSED"
            fast = "ok" if secs < 2 else "MISSED"
            print(f"{name}: default {method} AUC {auc:.4f} = {auc / random_auc:.2f} x random "
                  f"(target <= 0.5: {ok}); 100 digits in {secs:.3f} s (target < 2 s: {fast})")


if __name__ == "__main__":
    main()
