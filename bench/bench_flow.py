"""Realness of the flow generator and the dreams, side by side: judge, FID, precision / recall, detector.

For every sampler, side by side in one process, on n = 10·per_digit digits (per_digit of each
class) and the same judge (the bundled `cnn`, never the model that steers), `metrics.RealReference`:

- judge: the share the cnn reads as the requested digit;
- FID / floor: the Fréchet distance in the cnn's features to n real test digits, over the
  real-vs-real floor (two disjoint sets of n real test digits with the same class mix);
- prec / recall: improved precision and recall (Kynkäänniemi et al. 2019: k-NN balls, k = 3, in
  the cnn's features) against the same real test digits; the header shows real against real;
- div / real: mean within-class pixel distance over the same for real digits;
- detector: a classifier two-sample test (Lopez-Paz & Oquab 2017, `metrics.detector_accuracy`):
  a fresh small CNN trained to tell the digits from real training digits of the same class mix,
  on one half of each, scored on the other halves (50% = indistinguishable). Both sets are seen
  as saved PNG bytes on a log scale (`metrics.detector_view`), so faint background haze counts
  and sub-byte float noise does not. The "real training digits" row (a disjoint set) is its
  real-vs-real floor;
- zero px: the share of pixels exactly 0 once saved (real MNIST: about 82%);
- s / 100: seconds per 100 digits after TensorFlow and the models are loaded.

    python bench/bench_flow.py [--per-digit 200] [--quick] [--only TEXT] [--no-detector]
    python bench/bench_flow.py --npz digits.npz [--sampler my_module:make] [--per-digit 200]
    python bench/bench_flow.py --drawn 30

`--quick` scores the headline rows only: real training digits and what the commands make at
their defaults (`generate --model flow`, `dream`, `dream --prior none`, `dream --prior flow`);
without it the CVAE and the flow's variants (steps, solvers, guidance, steering) follow.
`--only TEXT` runs the rows whose name contains TEXT. `--npz FILE` (repeatable) scores the
``images`` (floats in [0, 1] or bytes) and ``labels`` of an npz (what `--npz` of `generate` and
`dream` writes); `--sampler MODULE:FUNCTION` (or ``path/to/file.py:FUNCTION``, repeatable) scores
a function ``make(labels) -> images`` (labels (n,), per_digit of each digit in order; images
(n, 28, 28) floats in [0, 1]). With either, only they and the real row are scored.
`--save-dir DIR` keeps each scored row's images and labels as an npz (to score again with `--npz`).
`--drawn N` measures the studio's "Dream it into…" instead: N drawn digits
(`classify.corrupt.draw_digit`, marker style, made MNIST-style as the studio does), each dreamed
into the next digit, (d + 1) mod 10, through the flow (one request each, as the studio makes them)
and, beside it, by the pixel dream the studio used before; it prints the judge's agreement with
the target, the style kept (`metrics.style_consistency`, slant and thickness) and the seconds per
request once warm.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import time
from pathlib import Path

HEADER = (f"{'sampler':56s} {'judge':>6s} {'FID/floor':>9s} {'prec':>5s} {'recall':>6s} {'div/real':>8s} "
          f"{'detector':>8s} {'zero px':>7s} {'s/100':>6s}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-digit", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="the headline rows only (the commands at their defaults)")
    ap.add_argument("--flow", default="flow", help="flow model (bundled name or .keras path)")
    ap.add_argument("--drawn", type=int, default=0, help="measure dream-into on N drawn digits instead")
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="run only the rows whose name contains TEXT (repeatable)")
    ap.add_argument("--npz", action="append", default=[], metavar="FILE", help="score an npz of images + labels")
    ap.add_argument("--sampler", action="append", default=[], metavar="MODULE:FUNCTION",
                    help="score make(labels) -> images")
    ap.add_argument("--save-dir", type=Path, default=None, help="keep each row's digits here as an npz")
    ap.add_argument("--no-detector", action="store_true", help="skip the two-sample test (its CNN trains ~5 s a row)")
    args = ap.parse_args()
    if args.drawn:
        return drawn(args.drawn)
    extra = {**{f"npz {f}": npz_digits(f) for f in args.npz}, **{s: load_sampler(s) for s in args.sampler}}

    import numpy as np

    from neuroart.data import load_mnist, to_float
    from neuroart.metrics import RealReference, zero_share

    (xtr, ytr), (xt, yt) = load_mnist("auto")
    ref = RealReference(to_float(xt), yt, args.per_digit, train_images=to_float(xtr), train_labels=ytr)
    labels = ref.labels
    print(f"n = {len(labels)}; real test vs real test: FID floor {ref.floor:.3f}, precision {ref.precision:.3f}, "
          f"recall {ref.recall:.3f}, diversity {ref.diversity:.3f}, zero px {zero_share(ref.a):.1%}")
    print(HEADER)

    def row(name, make):
        if callable(make):
            make(labels[labels == labels[0]])  # warm-up, one row: load the models, trace the loops
            t = time.perf_counter()
            images, y = make(labels), labels
            sec = f"{(time.perf_counter() - t) / len(labels) * 100:6.2f}"
        else:
            (images, y), sec = make, "     -"
        if args.save_dir is not None:
            from neuroart.outputs import save_npz

            args.save_dir.mkdir(parents=True, exist_ok=True)
            save_npz(args.save_dir / f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')[:60]}.npz",
                     images=np.asarray(images, np.float32), labels=np.asarray(y))
        s = ref.score(images, y, detector=not args.no_detector)
        det = f"{s['detector']:8.1%}" if "detector" in s else f"{'-':>8s}"
        print(f"{name:56s} {s['judge_agreement']:6.2%} {s['fid_over_floor']:8.3f}x {s['precision']:5.2f} "
              f"{s['recall']:6.2f} {s['diversity_over_real']:7.3f}x {det} {s['zero_share']:7.1%} {sec}", flush=True)

    real = {"real training digits (a perfect model of the training set)":
            lambda labels: ref.training_digits(labels, other=True)}
    for name, make in {**real, **(extra or samplers(args))}.items():
        if not args.only or any(text in name for text in args.only):
            row(name, make)


def npz_digits(path) -> tuple:
    """The ``images`` and ``labels`` of an npz (no pickles), images as floats in [0, 1]."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"error: --npz {path}: need an npz with 'images' and 'labels' ({e})") from None
    if images.dtype.kind in "iu":
        images = images.astype(np.float32) / 255.0
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise SystemExit(f"error: --npz {path}: images must be (N, 28, 28) with N labels, "
                         f"got {images.shape} and {labels.shape}")
    return images.astype(np.float32), labels


def load_sampler(spec: str):
    """``module:function`` or ``path/to/file.py:function`` -> the function."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise SystemExit(f"error: --sampler {spec}: give MODULE:FUNCTION or FILE.py:FUNCTION")
    if where.endswith(".py"):
        spec_ = importlib.util.spec_from_file_location(Path(where).stem, where)
        if spec_ is None or not Path(where).is_file():
            raise SystemExit(f"error: --sampler {spec}: no such file {where}")
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SystemExit(f"error: --sampler {spec}: {where} has no function {name}")
    return fn


def _per_digit(labels) -> int:
    import numpy as np

    return max(int(np.sum(labels == labels[0])), 1)


def samplers(args) -> dict:
    """name -> make(labels) -> images, for every row of the table."""
    import numpy as np

    from neuroart.dream import dream
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

    def by_rows(draw):  # draw(digits, per_digit, shard) -> images; one grid row (one digit) per call
        def make(labels):
            digits, k = [int(d) for d in dict.fromkeys(labels.tolist())], _per_digit(labels)
            return np.concatenate([draw(digits, k, (i, len(digits))) for i in range(len(digits))])
        return make

    def command(**options):  # a command at its defaults
        if options.get("model") == "flow":  # whole: generate batches the flow itself (a shard pads its batch)
            return lambda labels: generate(sorted(set(labels.tolist())), per_digit=_per_digit(labels), seed=0,
                                           model=args.flow)[0]
        # a dream row by row: bounded memory, the same bytes as the whole job
        return by_rows(lambda digits, k, shard: dream(digits, per_digit=k, seed=0, shard=shard, **options).images)

    rows = {"neuroart generate --model flow (its defaults)": command(model="flow"),
            "neuroart dream (its defaults)": command(),
            "neuroart dream --prior none (the pixel dream)": command(prior="none"),
            "neuroart dream --prior flow": command(prior="flow", flow=args.flow)}
    if args.quick:
        return rows
    for steer in (0.3, 0.6):
        rows[f"neuroart dream --steer {steer}"] = command(steer=steer)
    rows["neuroart dream --gradient flow --steer 1 (through the flow, the default before)"] = command(
        gradient="flow", steer=1.0)
    rows["cvae (generate --model cvae)"] = by_rows(
        lambda digits, k, shard: generate(digits, per_digit=k, seed=0, model="cvae", shard=shard)[0])
    rows.update({f"flow, class-conditional, {s} even Euler steps": flow_gen(s) for s in (4, 10, 25, 50)})
    rows["flow, class-conditional, 10 even Heun steps (19 evaluations)"] = flow_gen(10, solver="heun")
    for w in (0.1, 0.3):
        rows[f"flow, class-conditional + free guidance {w}, 25 even steps"] = flow_gen(25, guidance=w)
    for s in (12, 16, 20, 25):
        rows[f"flow, guidance 0.3, {s} steps spaced 2"] = flow_gen(s, guidance=0.3, spacing=2.0)
    for scale in (1, 2, 5, 20):
        rows[f"flow dream: conditional + the MLP's steering {scale}, 25 steps"] = flow_dream(25, scale=scale)
    rows["flow dream: unconditional, steered by the MLP alone (20), 50 steps"] = flow_dream(
        50, conditional=False, scale=20)
    rows["flow dream: the same without the random transforms"] = flow_dream(
        50, conditional=False, scale=20, views=1, jitter=0, zoom=0, rotate=0)
    return rows


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
