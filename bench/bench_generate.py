"""Generator speed and quality: 10,000 digits after load, default CVAE training, and the scores.

Prints, side by side with their targets (issue 4):

- the time to generate 10,000 digits with the bundled cvae once it is loaded (target < 2 s),
  against the time to merely decode 10,000 codes (the floor) -- best of `--repeats`;
- the default CVAE training time: the bundled card's recorded seconds, or a fresh run of
  `train_generator("cvae")` with `--train` (target < 300 s; takes ~4 minutes);
- with `--quality`: judge agreement (bundled cnn), Fréchet distance in the cnn's feature space
  against the MNIST test set next to the real train-vs-test floor, novelty next to real test
  digits' novelty, and the smallest within-class diversity next to real digits'.

    python bench/bench_generate.py [--repeats 5] [--quality] [--train]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", default="cvae")
    ap.add_argument("--quality", action="store_true", help="also score 10,000 samples (about a minute)")
    ap.add_argument("--train", action="store_true", help="re-time the default cvae training (~4 min)")
    args = ap.parse_args()

    import numpy as np

    from neuroart.generate import generate
    from neuroart.generate.model import load_generator
    from neuroart.models import load_card

    t = time.perf_counter()
    g = load_generator(args.model)
    load_s = time.perf_counter() - t
    print(f"load {args.model}: {load_s:.2f} s")

    generate(per_digit=10, seed=0, model=g)  # warm-up (first call builds the graph)
    gen_times, dec_times = [], []
    z = g.prior(labels=np.arange(10_000) % 10, seed=0)
    for r in range(args.repeats):
        t = time.perf_counter()
        images, labels = generate(per_digit=1000, seed=r, model=g)
        gen_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        g.decode(z, np.arange(10_000) % 10 if g.conditional else None, sharpness=1.0)
        dec_times.append(time.perf_counter() - t)
    assert images.shape == (10_000, 28, 28)
    best, dec = min(gen_times), min(dec_times)
    print(f"generate 10,000 digits: best {best:.3f} s, median {np.median(gen_times):.3f} s "
          f"(target < 2 s: {'ok' if best < 2 else 'MISSED'}; ratio to target {best / 2:.2f})")
    print(f"  decode-only floor: {dec:.3f} s  (generate/decode = {best / dec:.2f})")

    card = load_card(args.model)
    print(f"bundled {args.model} training (card): {card.get('train_seconds')} s for {card.get('epochs')} epochs "
          f"(target < 300 s; ratio {card.get('train_seconds', 0) / 300:.2f})")
    if args.train:
        from neuroart.generate.train import train_generator

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            _, fresh = train_generator("cvae", out=Path(tmp) / "cvae.keras", progress=False)
            wall = time.perf_counter() - t
        print(f"default cvae training now: {fresh['train_seconds']} s training loop, {wall:.1f} s wall "
              f"including data and scoring (target < 300 s: {'ok' if wall < 300 else 'MISSED'}; "
              f"test ELBO {fresh['test_elbo']} vs bundled {card.get('test_elbo')})")

    if args.quality:
        quality(g)


def quality(g):
    from neuroart import metrics as M
    from neuroart.data import load_mnist, to_float
    from neuroart.generate import generate

    images, labels = generate(per_digit=1000, seed=0, model=g)  # the defaults, seed 0
    others = [M.judge_agreement(*generate(per_digit=1000, seed=s, model=g), "cnn") for s in range(1, 5)]

    (x, y), (xt, yt) = load_mnist()
    x, xt = to_float(x), to_float(xt)
    agree = M.judge_agreement(images, labels, "cnn")
    real_agree = M.judge_agreement(xt, yt, "cnn")
    per = {d: M.judge_agreement(images[labels == d], d, "cnn") for d in range(10)}
    fid = M.frechet_distance(images, xt, "cnn")
    floor = M.frechet_distance(x[:10_000], xt, "cnn")
    nov = M.novelty(images[::5], x)  # every 5th: all classes (images come digit by digit)
    real_nov = M.novelty(xt[:2000], x)
    div = M.diversity(images, labels, per_class=True)
    real_div = M.diversity(xt, yt, per_class=True)
    print(f"judge agreement (cnn): {agree:.2%}  (real test digits {real_agree:.2%}; target >= 98%)")
    print("  seeds 1-4: " + ", ".join(f"{a:.2%}" for a in others) + f"; all five: mean "
          f"{(agree + sum(others)) / 5:.2%}, min {min([agree, *others]):.2%}")
    print("  per digit: " + "  ".join(f"{d}:{a:.1%}" for d, a in per.items()))
    raw, _ = generate(per_digit=1000, seed=0, model=g, truncation=1.0, sharpness=1.0)
    std, _ = generate(per_digit=1000, seed=0, model=g, truncation=1.0, sharpness=1.0, standard_prior=True)
    print(f"  raw decoder (no truncation, sharpness 1): {M.judge_agreement(raw, labels, 'cnn'):.2%}; "
          f"and from N(0, I) instead of the fitted prior: {M.judge_agreement(std, labels, 'cnn'):.2%}")
    print(f"Fréchet distance (cnn features) vs test set: {fid:.2f}  (real train-vs-test floor {floor:.2f})")
    print(f"  raw decoder: {M.frechet_distance(raw, xt, 'cnn'):.2f}")
    print(f"novelty (mean L2 to nearest training digit): {nov:.3f}  (real test digits {real_nov:.3f}; "
          f"ratio {nov / real_nov:.3f}, target >= 1; raw decoder {M.novelty(raw[::5], x):.3f})")
    worst = min(div, key=div.get)
    print(f"within-class diversity: min {div[worst]:.2f} (digit {worst}), mean {sum(div.values()) / 10:.2f}  "
          f"(real: min {min(real_div.values()):.2f}, mean {sum(real_div.values()) / 10:.2f})")


if __name__ == "__main__":
    main()
