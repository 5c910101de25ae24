"""How well do the classifiers read digits as people send them? (issue 10)

1. The corruption benchmark (`neuroart.classify.corrupt`, after MNIST-C): a seeded sample of the
   MNIST test set under 15 corruptions, accuracy per corruption and the mean, for mlp, cnn and
   the reader side by side. Targets for the reader: mean >= 97 %, no corruption below 90 %.
2. Drawn digits: every digit drawn with Pillow in ten pen styles and photo-like conditions
   (`corrupt.draw_digit`: marker, ballpoint on a big page, pencil on textured paper, chalk, phone
   photo, transparent canvas, red on yellow, touching the border, 16-bit PNG, a 20x20 scan), saved as files and
   read back through `load_digit_image`, the way `neuroart classify` reads them.
3. Low-resolution scans (issue 18, `neuroart.classify.scans`): MNIST test digits stretched to
   fill their frame, box-filtered to 8x8 or 16x16, 16 grey levels, enlarged to 56-112 pixels by
   bilinear, bicubic or nearest interpolation, saved as PNG; each family read through the
   preprocessing (as `neuroart classify` reads files) and by the plain resize (invert, shrink to
   28x28, nothing else), for every model. Target: the preprocessed path >= the plain resize on
   every family and model, and >= 97 % for the reader.
4. Speed: one image file through preprocessing and the reader (target <= 15 ms), and `classify`
   on 1,000 files (target < 10 s).

    python bench/bench_robustness.py              # 2,000-digit sample (the docs' table)
    python bench/bench_robustness.py --all        # all 10,000 test digits
    python bench/bench_robustness.py --models reader --seeds 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def drawn(models, seeds: int) -> dict:
    import numpy as np

    from neuroart.classify import predict
    from neuroart.classify.corrupt import STYLES, draw_digit
    from neuroart.data import load_digit_image
    from neuroart.models import load_model

    with tempfile.TemporaryDirectory() as tmp:
        paths, labels, styles = [], [], []
        for style in STYLES:
            for label in range(10):
                for seed in range(seeds):
                    p = Path(tmp) / f"{style}-{label}-{seed}.png"
                    draw_digit(label, style=style, seed=seed).save(p)
                    paths.append(p)
                    labels.append(label)
                    styles.append(style)
        x = np.stack([load_digit_image(p) for p in paths])
    y, styles = np.array(labels), np.array(styles)
    out = {}
    for name in models:
        pred = predict(load_model(name), x).argmax(1)
        out[name] = {s: float((pred[styles == s] == y[styles == s]).mean()) for s in STYLES}
        out[name]["all"] = float((pred == y).mean())
    return {"n": len(y), "by_model": out, "styles": list(STYLES)}


def scans(models, n: int | None, seed: int, data: str) -> dict:
    from neuroart.classify.corrupt import _sample
    from neuroart.classify.scans import benchmark_scans
    from neuroart.data import load_mnist, to_float
    from neuroart.models import load_model

    _, (x, y) = load_mnist(data)
    x, y = _sample(to_float(x), y, n, seed)
    return {"n": len(y), "families": benchmark_scans({m: load_model(m) for m in models}, x, y, seed=seed)}


def print_scans(res: dict, models) -> None:
    head = "low-res scan".ljust(22) + "".join(f"{m + ' pre':>13}{'plain':>8}" for m in models)
    print(head + "\n" + "-" * len(head))
    for name, accs in res["families"].items():
        print(name.ljust(22) + "".join(f"{accs[m]['preprocessed']:>13.2%}{accs[m]['plain']:>8.2%}" for m in models))
    for m in models:
        worse = [f for f, a in res["families"].items() if a[m]["preprocessed"] < a[m]["plain"]]
        print(f"{m}: preprocessed >= plain on {len(res['families']) - len(worse)}/{len(res['families'])} families"
              + (f" (below on {', '.join(worse)})" if worse else ""))
    print(f"({res['n']:,} MNIST test digits per family; pre = through the preprocessing, plain = invert and "
          f"shrink to 28x28)\n")


def speed(model_name: str) -> dict:
    import numpy as np

    from neuroart.classify import classify_files, classify_images
    from neuroart.classify.corrupt import draw_digit
    from neuroart.data import load_digit_image
    from neuroart.models import load_model

    net = load_model(model_name)
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.png"
        draw_digit(7, style="photo", seed=0).save(one)
        classify_images(load_digit_image(one)[None], model=net)  # warm up
        times = []
        for _ in range(30):
            t = time.perf_counter()
            classify_images(load_digit_image(one)[None], model=net)
            times.append(time.perf_counter() - t)
        files = []
        for i in range(1000):
            p = Path(tmp) / f"d{i}.png"
            draw_digit(i % 10, style="marker", seed=i).resize((96, 96)).save(p)
            files.append(p)
        t = time.perf_counter()
        classify_files(files, model=model_name)
        many = time.perf_counter() - t
    return {"ms_per_digit": 1000 * float(np.median(times)), "seconds_1000_files": many}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mlp,cnn,reader", help="comma-separated bundled names or .keras paths")
    ap.add_argument("--all", action="store_true", help="all 10,000 test digits instead of a 2,000 sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=3, help="drawn digits per digit and style")
    ap.add_argument("--data", default="auto")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    from neuroart.classify.corrupt import benchmark, format_table

    t = time.perf_counter()
    res = benchmark({m: m for m in models}, n=None if args.all else 2000, seed=args.seed, data=args.data)
    print("\n".join(format_table(res)))
    for m, r in res["models"].items():
        print(f"{m}: worst {r['worst']} {r['accuracy'][r['worst']]:.2%}")
    print(f"[{time.perf_counter() - t:.0f} s]\n")

    t = time.perf_counter()
    print_scans(scans(models, None if args.all else 2000, args.seed, args.data), models)
    print(f"[{time.perf_counter() - t:.0f} s]\n")

    d = drawn(models, args.seeds)
    head = "drawn digits".ljust(14) + "".join(f"{m:>10}" for m in models)
    print(head + "\n" + "-" * len(head))
    for s in [*d["styles"], "all"]:
        print(s.ljust(14) + "".join(f"{d['by_model'][m][s]:>10.1%}" for m in models))
    print(f"({d['n']} images, {args.seeds} per digit and style, read through load_digit_image)\n")

    for m in models:
        s = speed(m)
        print(f"{m}: {s['ms_per_digit']:.1f} ms per digit (file -> preprocessing -> model), "
              f"1,000 files in {s['seconds_1000_files']:.1f} s")


if __name__ == "__main__":
    main()
