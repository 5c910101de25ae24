"""The flow generator and flow-steered dreams against the CVAE and the pixel dream (issue 17).

For every sampler, side by side in one process, on n = 10·per_digit digits (per_digit of each
class) and the same judge (the bundled `cnn`, never the model that steers):

- judge: the share the cnn reads as the requested digit;
- FID / floor: the Fréchet distance in the cnn's features to n real test digits, over the
  real-vs-real floor (two disjoint sets of n real test digits with the same class mix);
- diversity / real: mean within-class pixel distance over the same for real digits;
- s / 100: seconds per 100 digits after TensorFlow and the models are loaded (the samplers run
  in their library batches: one grid row per batch).

    python bench/bench_flow.py [--per-digit 200] [--quick] [--only TEXT] [--drawn 30]

`--quick` scores the flow rows only (no CVAE, no pixel dream); `--only TEXT` the rows whose name
contains TEXT. `--drawn N` measures the studio's
"Dream it into…" instead: N drawn digits (`classify.corrupt.draw_digit`, marker style, made
MNIST-style as the studio does), each dreamed into the next digit, (d + 1) mod 10, through the
flow (one request each, as the studio makes them) and, beside it, by the pixel dream the studio
used before; it prints the judge's agreement with the target, the style kept
(`metrics.style_consistency`, slant and thickness) and the seconds per request once warm.
"""

from __future__ import annotations

import argparse
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-digit", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--flow", default="flow", help="flow model (bundled name or .keras path)")
    ap.add_argument("--drawn", type=int, default=0, help="measure dream-into on N drawn digits instead")
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="run only the rows whose name contains TEXT (repeatable)")
    args = ap.parse_args()
    if args.drawn:
        return drawn(args.drawn)


    import numpy as np

    from neuroart.data import load_mnist, to_float
    from neuroart.metrics import RealReference

    (xtr, ytr), (xt, yt) = load_mnist("auto")
    ref = RealReference(to_float(xt), yt, args.per_digit)
    labels = ref.labels
    print(f"n = {len(labels)}; real-vs-real FID floor {ref.floor:.3f}; real diversity {ref.diversity:.3f}")
    print(f"{'sampler':58s} {'judge':>7s} {'FID/floor':>10s} {'div/real':>9s} {'s/100':>7s}")

    def row(name, make):
        make(labels[:10])  # warm-up: load the models, trace the loops
        t = time.perf_counter()
        images = make(labels)
        sec = (time.perf_counter() - t) / len(labels) * 100
        s = ref.score(images)
        print(f"{name:58s} {s['judge_agreement']:7.1%} {s['fid_over_floor']:9.2f}x "
              f"{s['diversity_over_real']:8.2f}x {sec:7.2f}", flush=True)

    def real_training_digits(labels):  # what a perfect model of the training set would score
        rng, picks = np.random.default_rng(1), np.empty(len(labels), np.int64)
        for d in np.unique(labels):
            at = np.flatnonzero(labels == d)
            picks[at] = rng.choice(np.flatnonzero(ytr == d), len(at), replace=False)
        return to_float(xtr[picks])

    for name, make in {"real training digits (a perfect model of the training set)": real_training_digits,
                       **samplers(args)}.items():
        if not args.only or any(text in name for text in args.only):
            row(name, make)


def _per_digit(labels) -> int:
    import numpy as np

    return max(int(np.sum(labels == labels[0])), 1)


def samplers(args) -> dict:
    """name -> make(labels) -> images, for every row of the table."""
    import numpy as np

    from neuroart.dream import DreamConfig, dream
    from neuroart.dream.flowdream import FlowDreamConfig, dream_flow
    from neuroart.generate import generate
    from neuroart.generate.flow import NULL, generate_rows
    from neuroart.models import load_model

    flow = load_model(args.flow)
    mlp = load_model("mlp")

    def flow_gen(steps, guidance=0.0, solver="euler", spacing=1.0):
        def make(labels):
            k = _per_digit(labels)
            return generate_rows(flow, labels, per_digit=k, rows=range(len(labels) // k), steps=steps,
                                 guidance=guidance, solver=solver, spacing=spacing, seed=0)
        return make

    def flow_dream(steps, conditional=True, **options):
        cfg = FlowDreamConfig(flow=args.flow, steps=steps, **options)

        def make(labels):
            k = _per_digit(labels)
            out = [dream_flow(labels[a : a + k] if conditional else np.full(k, NULL), classifier=mlp,
                              targets=labels[a : a + k], cfg=cfg, seed=0, first=a)
                   for a in range(0, len(labels), k)]
            return np.concatenate(out)
        return make

    rows = {f"flow, class-conditional, {s} even Euler steps": flow_gen(s) for s in (4, 10, 25, 50)}
    rows["flow, class-conditional, 10 even Heun steps (19 evaluations)"] = flow_gen(10, solver="heun")
    for w in (0.1, 0.3):
        rows[f"flow, class-conditional + free guidance {w}, 25 even steps"] = flow_gen(25, guidance=w)
    for s in (12, 16, 20, 25):
        default = " (generate --model flow)" if s == 20 else ""
        rows[f"flow, guidance 0.3, {s} steps spaced 2{default}"] = flow_gen(s, guidance=0.3, spacing=2.0)
    for scale in (1, 2, 5, 20):
        rows[f"flow dream: conditional + the MLP's steering {scale}, 25 steps"] = flow_dream(25, scale=scale)
    rows["flow dream: unconditional, steered by the MLP alone (20), 50 steps"] = flow_dream(
        50, conditional=False, scale=20)
    rows["flow dream: the same without the random transforms"] = flow_dream(
        50, conditional=False, scale=20, views=1, jitter=0, zoom=0, rotate=0)
    if args.quick:
        return rows

    def pixel_dream(labels):
        return dream(None, config=DreamConfig(per_digit=_per_digit(labels), seed=0)).images[: len(labels)]

    def cvae(labels):
        return generate(None, per_digit=_per_digit(labels), seed=0, model="cvae")[0][: len(labels)]

    return {"cvae (generate default)": cvae, "pixel dream (neuroart dream default)": pixel_dream, **rows}


def drawn(n: int):
    """The studio's "Dream it into…": drawn digits dreamed into (d + 1) mod 10, one request each."""
    import numpy as np

    from neuroart.classify.corrupt import draw_digit
    from neuroart.data.preprocess import mnist_style, to_gray
    from neuroart.dream import dream
    from neuroart.metrics import judge_agreement, style_consistency
    from neuroart.models import load_model

    mlp = load_model("mlp")
    sources = np.stack([mnist_style(to_gray(draw_digit(i % 10, seed=i))) for i in range(n)])
    targets = (np.arange(n) + 1) % 10
    ways = {**{f"flow, strength {st}, steer {sc}, hand {h}, 25 steps": dict(prior="flow", strength=st, steer=sc, hand=h)
               for st, sc, h in ((0.6, 5, 0), (0.7, 20, 0), (0.6, 20, 1), (0.7, 20, 1), (0.8, 20, 1), (0.7, 20, 2.5))},
            "pixel dream (studio before: 120 steps)": dict(steps=120)}
    print(f"{n} drawn digits, each dreamed into the next digit")
    print(f"{'dream into':58s} {'judge':>7s} {'slant r':>8s} {'thick r':>8s} {'s/request':>10s}")
    for name, opts in ways.items():
        dream([int(targets[0])], per_digit=1, start=sources[0], model=mlp, **opts)  # warm: trace once
        out, seconds = [], []
        for src, d in zip(sources, targets, strict=True):
            t = time.perf_counter()
            out.append(dream([int(d)], per_digit=1, start=src, model=mlp, seed=0, **opts).images[0])
            seconds.append(time.perf_counter() - t)
        out = np.stack(out)
        style = style_consistency(sources, out[:, None])
        print(f"{name:58s} {judge_agreement(out, targets):7.1%} {style['slant']:8.2f} {style['thickness']:8.2f} "
              f"{np.median(seconds):10.2f}", flush=True)


if __name__ == "__main__":
    main()
