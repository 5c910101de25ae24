"""Batched compiled dreaming vs the naive per-image eager loop, side by side.

    python bench/bench_dream.py [--images 100] [--steps 200] [--naive-images 4] [--runs 3]
    python bench/bench_dream.py --command [--runs 4]     # only the whole-command figure

Both sides climb the same objective (log p(target) - 2 * mean|x|) on the same model (the
bundled `mlp`) from the same starts, with the same random jitter/scale/rotate/blur transforms
and Adam-free normalised-gradient steps, for IMAGES x STEPS image-steps:

- naive: what the Keras DeepDream example does -- one image at a time, a Python loop over the
  steps, an eager `tf.GradientTape` per step, the gradient normalised and added in NumPy;
- batched: `neuroart.dream.render` -- every image in one tensor, all steps inside one
  `tf.function`.

With ``--table`` it scores every dream setting instead (the table in docs/dream.md): share of
dreams the bundled `cnn` labels as their target, the same for the dreamed-on `mlp`, within-digit
diversity relative to real test digits, and the Fréchet distance to real digits in the cnn's
feature space. With ``--deepdream`` it instead times ``neuroart deepdream``'s library call with default settings
on a 1024x768 photo-like picture (procedural: sky, sun, hills, 1/f texture), writes it to
``--save`` if given, and reports the peak memory growth per tile count.

Last (or alone, with ``--command``) it times the default ``neuroart dream`` command as a user runs
it, paired run by run with ``python -c "import tensorflow"`` (the floor every command pays):
the medians, their difference (the command's own time after TensorFlow has loaded; issue 19's
target is at most 2.5 s) and their ratio.

The naive loop is timed on NAIVE_IMAGES images and extrapolated linearly to IMAGES (each image
is independent, so its cost is linear); the output says so. The batched time includes tracing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402


def photo_like(w: int = 1024, h: int = 768, seed: int = 0) -> np.ndarray:
    """A procedural landscape (H, W, 3) in [0, 1]: sky gradient, a sun, layered hills, texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = yy / h, xx / w
    img = np.zeros((h, w, 3), np.float32)
    img[:] = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.9 - 0.2 * y], -1)  # sky
    sun = np.exp(-(((x - 0.72) ** 2 + (y - 0.25) ** 2) / 0.004))
    img += sun[..., None] * np.array([1.0, 0.85, 0.5], np.float32)
    # 1/f texture
    spec = np.fft.rfft2(rng.standard_normal((h, w)))
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    tex = np.fft.irfft2(spec / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / max(h, w)) ** 1.2, s=(h, w))
    tex = (tex - tex.mean()) / tex.std()
    for k, (base, amp, col) in enumerate([(0.55, 0.08, (0.35, 0.45, 0.55)), (0.68, 0.06, (0.2, 0.4, 0.2)), (0.82, 0.05, (0.3, 0.25, 0.15))]):
        ridge = base + amp * np.sin(x[0] * (5 + 3 * k) * np.pi + k) + 0.03 * tex[int(h * 0.1 * (k + 1)), :]
        mask = (y > ridge[None, :]).astype(np.float32)
        shade = np.array(col, np.float32) * (0.8 + 0.1 * tex[..., None])
        img = img * (1 - mask[..., None]) + shade * mask[..., None]
    img += 0.03 * tex[..., None]
    return np.clip(img, 0, 1).astype(np.float32)


def bench_deepdream(save=None):
    import resource

    from neuroart.dream import deepdream
    from neuroart.dream.picture import DEFAULTS

    pic = photo_like()
    print(f"deepdream defaults {DEFAULTS} on a 1024x768 photo-like picture")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    out = deepdream(pic, show_progress=True)
    dt = time.perf_counter() - t0
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"deepdream 1024x768: {dt:.1f} s; peak RSS {rss0:.0f} -> {rss1:.0f} MB")
    big = photo_like(2048, 1536, seed=1)
    t0 = time.perf_counter()
    deepdream(big, steps=2, octaves=2)
    rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"deepdream 2048x1536 (4x the tiles, 2 octaves x 2 steps): {time.perf_counter() - t0:.1f} s; "
          f"peak RSS -> {rss2:.0f} MB (tiles go through the model {DEFAULTS.batch} at a time)")
    if save:
        from neuroart.outputs import save_image

        save_image(pic, save.replace(".png", "-input.png"))
        save_image(out, save)
        print(f"wrote {save}")


# (name, DreamConfig overrides) for the settings table of docs/dream.md
OLD_TR = dict(jitter=2.0, scale=0.1, rotate=10.0, blur=0.5)
NOREG = dict(l1=0.0, jitter=0.0, scale=0.0, rotate=0.0, blur=0.0, warp=0.0, temperature=1.0, diversity=0.0, prior="none")
SETTINGS = [
    ("plain pixel ascent: logit, noise start, clipped pixels, normalised gradient",
     dict(NOREG, class_score="logit", start="noise", bound="clip", optimizer="normgrad", lr=0.01)),
    ("logit, noise start, sigmoid pixels, Adam", dict(NOREG, class_score="logit", start="noise")),
    ("+ transforms (jitter 2, scale 10%, rotate 10, blur)", dict(NOREG, class_score="logit", start="noise", **OLD_TR)),
    ("+ start from the mean digit, warped per sample", dict(NOREG, class_score="logit", warp=1.0, **OLD_TR)),
    ("log p(target) instead of the logit, + L1 2", dict(NOREG, l1=2.0, warp=1.0, **OLD_TR)),
    ("log p at temperature 3, L1 1", dict(NOREG, l1=1.0, warp=1.0, temperature=3.0, **OLD_TR)),
    ("+ temperature 4, rotate 15, scale 15%, diversity 0.1  [default without a prior]", dict(prior="none")),
    ("pixel default + TV 0.01", dict(prior="none", tv=0.01)),
    ("pixel default, diversity 0.3", dict(prior="none", diversity=0.3)),
    ("pixel default, no transforms", dict(prior="none", jitter=0.0, scale=0.0, rotate=0.0, blur=0.0)),
    ("pixel default, 4 transformed views per step (EOT)", dict(prior="none", views=4)),
    ("pixel default, low-res pixels (14x14 upsampled)", dict(prior="none", lowres=2)),
    ("pixel default, noise start instead of the mean digit", dict(prior="none", start="noise")),
    ("pixel default, Fourier 1/f parameterisation", dict(prior="none", param="fourier")),
    ("pixel default, Fourier 1/f**1.5", dict(prior="none", param="fourier", decay_power=1.5)),
    ("Fourier, logit, noise start, no regularisers", dict(NOREG, param="fourier", class_score="logit", start="noise")),
]
PRIOR_SETTINGS = [
    ("Plug & Play: + autoencoder prior 0.03, diversity 0.3  [default]", dict()),
    ("Plug & Play, no diversity term", dict(diversity=0.0)),
    ("Plug & Play, prior weight 0.1", dict(denoise=0.1)),
    ("Plug & Play, temperature 1", dict(temperature=1.0)),
    ("Plug & Play, logit", dict(class_score="logit")),
]
LATENT_SETTINGS = [
    ("generator prior: decoder latent code, each z anchored to its start (`--param latent`)", dict(param="latent")),
    ("generator prior: no anchor (Adam 0.01, Gaussian log-prior only)", dict(param="latent", latent_anchor=0.0)),
    ("generator prior: no anchor, Adam 0.05, logit", dict(param="latent", latent_anchor=0.0, latent_lr=0.05, class_score="logit")),
]


def train_dae(path, seed=0, epochs=3):
    """A small denoising conv autoencoder (for the Plug & Play rows when no `ae` is bundled)."""
    from neuroart._util import keras, set_seed
    from neuroart.data import load_mnist, to_float

    k = keras()
    L = k.layers
    (x, _), _ = load_mnist()
    x = to_float(x)
    set_seed(seed)
    inp = k.Input((28, 28))
    h = L.Reshape((28, 28, 1))(inp)
    h = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Dense(32, activation="relu")(L.Flatten()(h))
    h = L.Reshape((7, 7, 64))(L.Dense(7 * 7 * 64, activation="relu")(h))
    h = L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(h)
    ae = k.Model(inp, L.Reshape((28, 28))(h))
    ae.compile("adam", "binary_crossentropy")
    noisy = np.clip(x + np.random.default_rng(seed).normal(0, 0.3, x.shape).astype(np.float32), 0, 1)
    ae.fit(noisy, x, epochs=epochs, batch_size=128, verbose=0)
    ae.save(path)
    return path


def table(prior=None, generator=None, per_digit=10, seed=0):
    """Score each setting: judge (cnn) agreement, dreamed-on (mlp) agreement, diversity, FID."""
    from neuroart import metrics as M
    from neuroart.data import load_mnist, to_float
    from neuroart.dream import dream
    from neuroart.models import bundled, load_model

    mlp = load_model("mlp")
    _, (xte, yte) = load_mnist()
    xte = to_float(xte)
    real_div = M.diversity(xte, yte, max_per_class=200)
    ref = xte[:2000]
    real_fid = M.frechet_distance(xte[5000:5100], ref)
    rows = list(SETTINGS)
    priors = list(prior or []) or [p for p in ("vae", "ae") if p in bundled()]
    if not priors:
        dae = "/tmp/neuroart-bench-dae.keras"
        if not os.path.exists(dae):
            print(f"no bundled `vae`/`ae`: training a small denoising autoencoder -> {dae}", flush=True)
            train_dae(dae)
        priors = [dae]
    for i, p in enumerate(priors):
        settings = PRIOR_SETTINGS if i == 0 else PRIOR_SETTINGS[:1]
        rows += [(f"{name} [{os.path.basename(str(p))}]", dict(kw, prior=p)) for name, kw in settings]
    if generator is None and "cvae" in bundled():
        generator = "cvae"
    if generator is not None:
        gname = generator if isinstance(generator, str) else getattr(generator, "name", "decoder")
        rows += [(f"{name} [{os.path.basename(gname)}]", dict(kw, generator=generator)) for name, kw in LATENT_SETTINGS]
    print(f"mlp dreamed on, cnn judges; 10 digits x {per_digit} samples, seed {seed}; "
          f"real test digits: diversity {real_div:.2f}, FID {real_fid:.0f} (100 vs 2000 test digits)")
    print("| setting | cnn agrees | mlp agrees | diversity / real | FID | seconds |")
    print("|---|---|---|---|---|---|")
    for name, kw in rows:
        t0 = time.perf_counter()
        r = dream(per_digit=per_digit, seed=seed, model=mlp, **kw)
        dt = time.perf_counter() - t0
        judge = M.judge_agreement(r.images, r.labels)
        own = float(np.mean(np.asarray(mlp(r.images, training=False)).argmax(1) == r.labels))
        div = M.diversity(r.images, r.labels) / real_div
        fid = M.frechet_distance(r.images, ref)
        print(f"| {name} | {judge:.0%} | {own:.0%} | {div:.2f} | {fid:.0f} | {dt:.1f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--naive-images", type=int, default=4)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--deepdream", action="store_true", help="time deepdream on a 1024x768 picture instead")
    ap.add_argument("--save", default=None, help="with --deepdream: write the dreamed picture here")
    ap.add_argument("--table", action="store_true", help="score every setting (the table of docs/dream.md)")
    ap.add_argument("--prior", action="append", default=None,
                    help="with --table: autoencoder(s) for the Plug & Play rows [default: bundled vae, ae]")
    ap.add_argument("--generator", default=None, help="with --table: decoder for the latent rows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--command", action="store_true", help="only time the default `neuroart dream` command")
    ap.add_argument("--runs", type=int, default=3, help="paired runs of the command timing (median)")
    args = ap.parse_args(argv)
    if args.table:
        return table(args.prior, args.generator, seed=args.seed)
    if args.deepdream:
        return bench_deepdream(args.save)
    if not args.command:
        bench_loops(args)
    bench_command(args.runs)


def bench_command(runs: int = 3) -> float:
    """Median seconds of the default `neuroart dream` command after TensorFlow has loaded: each run
    of the command is paired with a run of `python -c "import tensorflow"` (same machine, same
    moment), and the medians are compared. Returns the ratio command / import."""
    import statistics
    import subprocess
    import tempfile

    root = os.path.join(os.path.dirname(__file__), "..")
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def timed(cmd) -> float:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "dream.png")
        tf_s, cmd_s = [], []
        for _ in range(max(1, runs)):
            tf_s.append(timed([sys.executable, "-c", "import tensorflow"]))
            cmd_s.append(timed([sys.executable, "-m", "neuroart", "dream", "--out", out]))
    a, b = statistics.median(tf_s), statistics.median(cmd_s)
    print(f"neuroart dream (defaults, 80 dreams, VAE prior), median of {len(cmd_s)} paired runs: {b:.2f} s; "
          f"python -c 'import tensorflow': {a:.2f} s")
    print(f"after TensorFlow has loaded: {b - a:.2f} s (target <= 2.5 s); ratio command / import: {b / a:.2f}")
    return b / a


def bench_loops(args):
    """The batched compiled loop against the naive eager per-image loop (the first table)."""
    from neuroart._util import tf
    from neuroart.dream import objectives as O
    from neuroart.dream import params as P
    from neuroart.dream import transforms as TR
    from neuroart.dream._mean import mean_digit
    from neuroart.dream.render import ModelTaps, render
    from neuroart.models import load_model

    t = tf()
    model = load_model(args.model)
    n, steps, lr = args.images, args.steps, 0.5
    labels = np.arange(n) % 10
    tr = TR.standard(2, 0.1, 10, 0.5)
    start = np.broadcast_to(mean_digit(), (n, 28, 28))
    param = P.pixel(n, start=start, seed=0, noise=1.0, smooth=1.5)
    print(f"model {args.model}: {n} images x {steps} steps, objective log p(target) - 2*L1, "
          f"transforms {tr}")

    # -- batched, compiled (includes tracing) -------------------------------------------------
    obj = O.class_logprob(labels) - 2.0 * O.l1()
    t0 = time.perf_counter()
    render(model, obj, param, steps=steps, lr=lr, optimizer="normgrad", transforms=tr, seed=0)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    render(model, obj, param, steps=steps, lr=lr, optimizer="normgrad", transforms=tr, seed=0)
    t_batched2 = time.perf_counter() - t0

    # -- naive: one image at a time, eager ----------------------------------------------------
    taps = ModelTaps(model)
    k = min(args.naive_images, n)
    rng = np.random.default_rng([0, 0x6472])
    u_all = tr.draw(rng, steps, n)
    t0 = time.perf_counter()
    naive_out = []
    for i in range(k):
        one = O.class_logprob(int(labels[i])) - 2.0 * O.l1()
        v = t.Variable(param.init[0][i : i + 1])
        for s in range(steps):
            with t.GradientTape() as tape:
                img = t.sigmoid(v)
                x = tr.apply(img, t.constant(u_all[s, i : i + 1]))
                loss = t.reduce_sum(one(taps(x, img)))
            g = tape.gradient(loss, v).numpy()
            g /= np.abs(g).mean() + 1e-8
            v.assign_add(lr * g)
        naive_out.append(t.sigmoid(v).numpy()[0])
    t_naive_k = time.perf_counter() - t0
    t_naive = t_naive_k * n / k

    # same computation? compare the first image after a few steps (over hundreds of steps the
    # normalised ascent amplifies float round-off, so long runs drift apart)
    few = 5
    short = render(model, obj, param, steps=few, lr=lr, optimizer="normgrad", transforms=tr, seed=0)
    one = O.class_logprob(int(labels[0])) - 2.0 * O.l1()
    v = t.Variable(param.init[0][:1])
    for s in range(few):
        with t.GradientTape() as tape:
            img = t.sigmoid(v)
            loss = t.reduce_sum(one(taps(tr.apply(img, t.constant(u_all[s, :1])), img)))
        g = tape.gradient(loss, v).numpy()
        v.assign_add(lr * g / (np.abs(g).mean() + 1e-8))
    same = np.abs(t.sigmoid(v).numpy()[0] - short.images[0]).max()
    print(f"naive eager per-image loop: {t_naive_k:.2f} s for {k} images -> "
          f"{t_naive:.1f} s for {n} (extrapolated linearly from {k} images)")
    print(f"batched tf.function loop:   {t_batched:.2f} s for {n} images (incl. tracing), "
          f"{t_batched2:.2f} s traced")
    print(f"speed-up: {t_naive / t_batched:.0f}x (incl. tracing), {t_naive / t_batched2:.0f}x (traced)")
    print(f"same computation: after {few} steps the two loops differ by at most {same:.1e} per pixel")


if __name__ == "__main__":
    main()
