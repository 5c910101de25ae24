"""How fast the flow makes digits on this CPU, each change beside the baseline it replaced (issue 17).

Side by side in one process, on the bundled flow:

- one forward pass of 100 digits: Keras's `GroupNormalization` (the baseline) against
  neuroart's `GroupNorm` (the same weights, per-channel then per-group statistics);
- the same for a training step's work: the loss and its gradient on a batch of 128;
- a 10 x 10 grid at the default sampler: one batch per grid row (the baseline) against
  `generate_rows`' job-sized batches;
- the same grid in job batches: 25 even steps (the baseline) against the default, 20 steps
  spaced 2 (bunched toward the noise; docs/flow.md: the same FID);
- then, in subprocesses, the whole default command ``neuroart generate --model flow`` against
  ``python -c "import tensorflow, keras"``: the difference is the time after TensorFlow loads
  (the issue's target: at most 5 s for 100 digits).

    python bench/bench_flow_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def best(fn, repeat: int) -> float:
    fn()  # warm-up: traces
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def keras_group_norm(model):
    """`model` with every neuroart GroupNorm replaced by Keras's GroupNormalization (same weights)."""
    import keras

    from neuroart.generate.flow import GroupNorm

    def swap(layer):
        if type(layer) is not GroupNorm:
            return layer
        new = keras.layers.GroupNormalization.from_config(layer.get_config())
        new.build(layer.input.shape)
        new.set_weights(layer.get_weights())
        return new

    return keras.models.clone_model(model, clone_function=swap)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import numpy as np

    from neuroart._util import tf
    from neuroart.generate import flow as F
    from neuroart.models import load_model

    T = tf()
    model = load_model("flow", role="flow")
    baseline = keras_group_norm(model)
    x = T.random.normal((100, 28, 28), seed=0)
    t, y = T.fill((100, 1), 0.5), T.zeros((100, 1), "int32")
    print(f"{'':52s} {'baseline':>9s} {'neuroart':>9s} {'ratio':>6s}")

    def line(name, a, b):
        print(f"{name:52s} {a:8.3f}s {b:8.3f}s {b / a:5.2f}x", flush=True)

    fwd = [T.function(lambda x, t, y, m=m: m([x, t, y], training=False)) for m in (baseline, model)]
    a, b = (best(lambda f=f: np.asarray(f(x, t, y)), 5 * args.repeat) for f in fwd)
    line("forward pass, 100 digits (GroupNormalization/GroupNorm)", a, b)

    xb, tb, yb = T.random.normal((128, 28, 28), seed=1), T.fill((128, 1), 0.5), T.zeros((128, 1), "int32")

    def grad_fn(m):
        @T.function
        def step():
            with T.GradientTape() as tape:
                loss = T.reduce_mean(T.square(m([xb, tb, yb], training=True) - xb))
            return tape.gradient(loss, m.trainable_variables)
        return step

    steps = [grad_fn(m) for m in (baseline, model)]
    a, b = (best(lambda f=f: [np.asarray(g) for g in f()], 3 * args.repeat) for f in steps)
    line("loss + gradient, batch of 128 (a training step)", a, b)

    labels = np.repeat(np.arange(10), 10)

    def per_row():
        for r in range(10):
            F.integrate(model, F.row_noise(0, 10, 10 * r), labels[10 * r : 10 * r + 10],
                        **{k: v for k, v in F.SAMPLE_DEFAULTS.items() if k != "solver"})

    def job():
        F.generate_rows(model, labels, per_digit=10, rows=range(10), seed=0)

    def even():
        F.generate_rows(model, labels, per_digit=10, rows=range(10), seed=0, steps=25, spacing=1.0)

    job_time = best(job, args.repeat)
    line("10 x 10 grid (a batch per row / job batches)", best(per_row, args.repeat), job_time)
    line("10 x 10 grid (25 even steps / 20 spaced 2)", best(even, args.repeat), job_time)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "g.png"
        cmd = [sys.executable, "-m", "neuroart", "generate", "--model", "flow", "--out", str(out)]
        imp = [sys.executable, "-c", "import tensorflow, keras"]

        def run(c):
            return lambda: subprocess.run(c, check=True, capture_output=True)

        a, b = best(run(imp), args.repeat), best(run(cmd), args.repeat)
    print(f"neuroart generate --model flow: {b:.2f} s; TensorFlow's import {a:.2f} s; "
          f"after TensorFlow loads {b - a:.2f} s (target <= 5 s)")


if __name__ == "__main__":
    main()
