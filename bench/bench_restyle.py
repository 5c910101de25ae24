"""Handwriting style: is a restyled digit readable as its target, and does it keep the source's hand?

For 500 MNIST test digits (seeded), each is restyled as all ten digits by
`neuroart.generate.style.restyle` with its defaults (the source's label read by the default
reader, as for a person's drawing). Prints:

- judge agreement: the share of the 5,000 restyled digits the independent ``cnn`` reads as their
  targets (target >= 97%), per target digit too;
- style consistency (`neuroart.metrics.style_consistency`): the correlation over the 500 sources
  between each source's slant (second moments) and stroke thickness (ink per stroke length) and
  the mean of the same measure over its ten restyled digits (target >= 0.7 each);
- the baseline: random cvae samples of the same ten digits in place of the restyled ones (about 0);
- the time to restyle one digit as 0-9 once the model is loaded, and a same-bytes check.

    python bench/bench_restyle.py [--n 500]
"""

from __future__ import annotations

import argparse
import hashlib
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="test digits restyled")
    ap.add_argument("--model", default="cvae")
    args = ap.parse_args()

    import numpy as np

    from neuroart.data import load_mnist, to_float
    from neuroart.generate.model import load_generator
    from neuroart.generate.style import restyle
    from neuroart.metrics import judge_agreement, style_consistency

    _, (xt, yt) = load_mnist()
    idx = np.random.default_rng(0).choice(len(xt), args.n, replace=False)
    x, y = to_float(xt[idx]), yt[idx]
    g = load_generator(args.model)
    restyle(x[0], model=g)  # warm-up
    t = time.perf_counter()
    results = [restyle(img, model=g) for img in x]
    secs = (time.perf_counter() - t) / len(x)
    sets = np.stack([r.images for r in results])  # (n, 10, 28, 28)
    labels = np.tile(np.arange(10), len(x))
    read = np.array([r.source_label for r in results])
    agree = judge_agreement(sets.reshape(-1, 28, 28), labels, "cnn")
    per = {d: judge_agreement(sets[:, d], d, "cnn") for d in range(10)}
    style = style_consistency(x, sets)
    rnd = g.decode(g.prior(labels=labels, seed=1, truncation=0.8), labels, sharpness=3.0).reshape(sets.shape)
    base = style_consistency(x, rnd)
    again = restyle(x[0], model=g).images
    same = hashlib.sha256(again.tobytes()).hexdigest() == hashlib.sha256(results[0].images.tobytes()).hexdigest()

    print(f"{args.model}: {len(x)} test digits (seed 0) restyled as 0-9; sources read by the default reader "
          f"({(read == y).mean():.1%} read right)")
    print(f"judge agreement (cnn): {agree:.2%}  (target >= 97%: {'ok' if agree >= 0.97 else 'MISSED'}; "
          f"random cvae samples {judge_agreement(rnd.reshape(-1, 28, 28), labels, 'cnn'):.2%})")
    print("  per target: " + "  ".join(f"{d}:{a:.1%}" for d, a in per.items()))
    for k in ("slant", "thickness"):
        print(f"{k} correlation: {style[k]:.3f}  (target >= 0.7: {'ok' if style[k] >= 0.7 else 'MISSED'}; "
              f"random cvae samples {base[k]:.3f})")
    print(f"restyle one digit as 0-9: {secs * 1000:.1f} ms; same input, same bytes: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
