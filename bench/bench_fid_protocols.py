"""What "FID over the real-vs-real floor" says depends on the reference: the same samplers, six ways.

`bench_flow.py` scores samples against real *test* digits, with a floor between two sets of them
(`neuroart.metrics.RealReference`). MNIST's training and test sets are by different writers, so
even real training digits score above 1x there. This script scores the same n = 2,000 digits
(200 per class: the flow, the CVAE, the pixel dream, and real training digits, which stand for a
perfect model of the training data) against six references, in the bundled `cnn`'s features:

- test_b, floor test_a|test_b: bench_flow.py's protocol (two random sets of test digits);
- front test: both sets from the *front* of each class (the protocol before this round);
- all test: against all 10,000 test digits (a reference with less bias), the same floor;
- train_b, floor train_a|train_b: two random sets of (other) training digits;
- all train: against the other 58,000 training digits, the training floor;
- test_b, floor train_a|test_b: the floor across the two sets' writers.

    python bench/bench_fid_protocols.py [--flow FILE]
"""

from __future__ import annotations

import argparse

N = 200  # per class


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flow", default="flow", help="flow model (bundled name or .keras path)")
    args = ap.parse_args()

    import numpy as np

    from neuroart.data import load_mnist, to_float
    from neuroart.dream import DreamConfig, dream
    from neuroart.generate import generate
    from neuroart.metrics import feature_stats, frechet_from_stats, judge_features

    (xtr, ytr), (xt, yt) = load_mnist("auto")
    xtr, xt = to_float(xtr), to_float(xt)

    def disjoint_sets(y, seed, k):
        """The indices of k disjoint random sets of N digits of each class."""
        perm = [np.random.default_rng(seed).permutation(np.flatnonzero(y == d)) for d in range(10)]
        return [np.concatenate([p[i * N : (i + 1) * N] for p in perm]) for i in range(k)]

    def front(x, y, skip):
        return x[np.concatenate([np.flatnonzero(y == d)[skip : skip + N] for d in range(10)])]

    def stats(images):
        return feature_stats(judge_features(images))

    def fid(a, b):
        return frechet_from_stats(*a, *b)

    samplers = {
        "flow": generate(None, per_digit=N, seed=0, model=args.flow)[0],
        "cvae": generate(None, per_digit=N, seed=0, model="cvae")[0],
        "pixel dream": dream(None, config=DreamConfig(per_digit=N, seed=0)).images[: 10 * N],
    }
    train_sets = disjoint_sets(ytr, 2, 3)
    samplers["real train"] = xtr[train_sets[2]]  # in no reference below
    S = {name: stats(images) for name, images in samplers.items()}
    test_a, test_b = (stats(xt[i]) for i in disjoint_sets(yt, 1, 2))
    train_a, train_b = (stats(xtr[i]) for i in train_sets[:2])
    front_a, front_b = stats(front(xt, yt, 0)), stats(front(xt, yt, N))
    all_test, all_train = stats(xt), stats(np.delete(xtr, train_sets[2], axis=0))
    protocols = {
        "test_b, floor test_a|test_b (bench_flow.py)": (test_b, fid(test_a, test_b)),
        "front test_b, floor front test_a|test_b": (front_b, fid(front_a, front_b)),
        "all test, floor test_a|test_b": (all_test, fid(test_a, test_b)),
        "train_b, floor train_a|train_b": (train_b, fid(train_a, train_b)),
        "all train, floor train_a|train_b": (all_train, fid(train_a, train_b)),
        "test_b, floor train_a|test_b": (test_b, fid(train_a, test_b)),
    }
    print(f"n = {10 * N}; FID / floor in the cnn's features")
    print(f"{'reference, floor':46s} {'floor':>6s} " + " ".join(f"{name:>11s}" for name in S))
    for name, (ref, floor) in protocols.items():
        print(f"{name:46s} {floor:6.3f} " + " ".join(f"{fid(S[k], ref) / floor:10.2f}x" for k in S), flush=True)


if __name__ == "__main__":
    main()
