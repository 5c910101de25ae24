"""Dreams in the few-step flow's noise, for `bench_flow.py --sampler` (docs/flow.md).

`neuroart dream` steers the flow's 4 passes (`dream.flowdream.Steering`). The other way the
issue named is to search the generator's input for what the classifier wants (Nguyen et al. 2016):
here the flow's noise z, for the rows the MLP does not read as their digit. Both samplers
below draw a row with the flow alone, then, while the MLP's probability of the row's digit
(the geometric mean over 8 random views, as the dream's gate reads it) is below `GATE`, change
the row's noise, at most `TRIES` times:

- `ascent`: a gradient step on the sphere of z's norm (the gradient through the 4 passes, made
  tangent and of length `ETA`·|z|), so z stays as long as Gaussian noise is;
- `redraw`: fresh noise (no gradient: rejection of what the MLP does not read).

Every digit stays one the flow draws from some noise. Row i's randomness comes from (seed, i)
alone, as in the dream.

    python bench/bench_flow.py --sampler bench/noise_dreams.py:ascent --sampler bench/noise_dreams.py:redraw
    python bench/bench_flow.py --sampler bench/noise_dreams.py:ascent_seed1 --sampler bench/noise_dreams.py:redraw_seed1
    python bench/noise_dreams.py      # the share of real digits the gate would not pass, for scale
"""

from __future__ import annotations

import functools

import numpy as np

GATE, ETA, TRIES, VIEWS = 0.2, 0.1, 5, 8


@functools.lru_cache(maxsize=1)
def _models():
    from neuroart.dream import transforms as TR
    from neuroart.dream.render import ModelTaps
    from neuroart.generate.flow import flow_times
    from neuroart.models import load_classifier, load_model

    flow = load_model("flow", role="flow")
    return flow, [float(t) for t in flow_times(flow)], ModelTaps(load_classifier("mlp")), TR.standard(2.0, 0.1, 10.0)


@functools.lru_cache(maxsize=1)
def _score():
    """Compiled ``(z, labels, u) -> (log-probabilities (N,), digits in flow space)`` through the
    flow's passes, and ``(z, labels, u) -> the log-probabilities' gradient in z``."""
    from neuroart._util import tf

    T = tf()
    flow, ts, taps, views = _models()

    def logp(z, y, u):
        x = z
        for a, b in zip(ts[:-1], ts[1:], strict=True):
            x = x + (b - a) * flow([x, T.fill((T.shape(x)[0], 1), a), T.reshape(y, (-1, 1))], training=False)
        pixels = T.clip_by_value((x + 1.0) * 0.5, 0.0, 1.0)
        n = T.shape(pixels)[0]
        many = T.tile(pixels, [VIEWS, 1, 1])
        lp = T.nn.log_softmax(taps(views.apply(many, T.reshape(u, (-1, 6))))("logits"))
        return T.reduce_mean(T.reshape(T.gather(lp, T.tile(y, [VIEWS]), axis=1, batch_dims=1), (VIEWS, n)), axis=0), x

    @T.function(autograph=False, reduce_retracing=True)
    def gradient(z, y, u):
        with T.GradientTape() as tape:
            tape.watch(z)
            total = T.reduce_sum(logp(z, y, u)[0])
        return tape.gradient(total, z)

    return T.function(logp, autograph=False, reduce_retracing=True), gradient


def _dream(labels, *, seed: int, mode: str, first: int = 0) -> np.ndarray:
    from neuroart._util import tf
    from neuroart.generate.flow import finish, row_noise

    T = tf()
    flow = _models()[0]
    score, gradient = _score()
    labels = np.asarray(labels, np.int32)
    n = len(labels)
    z = row_noise(seed, n, first).reshape(n, -1).astype(np.float32)
    u = np.stack([np.random.default_rng([seed, first + i, 2]).random((TRIES + 1, VIEWS, 6), np.float32)
                  for i in range(n)])
    radius = np.linalg.norm(z, axis=1, keepdims=True)
    x = np.empty((n, 28, 28), np.float32)
    live = np.arange(n)  # the rows the MLP does not read yet
    for k in range(TRIES + 1):
        args = (T.constant(z[live].reshape(-1, 28, 28)), T.constant(labels[live]),
                T.constant(np.transpose(u[live, k], (1, 0, 2))))
        s, x[live] = (v.numpy() for v in score(*args))
        keep = np.exp(s) < GATE
        if k == TRIES or not keep.any():
            break
        args, live = tuple(T.boolean_mask(a, keep, axis=1 if i == 2 else 0) for i, a in enumerate(args)), live[keep]
        if mode == "redraw":
            new = np.stack([np.random.default_rng([seed, first + i, 3, k]).standard_normal(784, np.float32)
                            for i in live])
        else:  # a step along the gradient's part tangent to the sphere, of length ETA·|z|
            zl, g = z[live], gradient(*args).numpy().reshape(len(live), -1)
            g = g - np.sum(g * zl, 1, keepdims=True) / np.sum(zl * zl, 1, keepdims=True) * zl
            new = zl + ETA * radius[live] * g / (np.linalg.norm(g, axis=1, keepdims=True) + 1e-12)
            new *= radius[live] / np.linalg.norm(new, axis=1, keepdims=True)
        z[live] = new
    return finish(flow, x)


def _batched(mode: str, seed: int):
    def make(labels):
        return np.concatenate([_dream(labels[a:a + 100], seed=seed, mode=mode, first=a) for a in range(0, len(labels), 100)])

    return make


ascent, redraw = _batched("ascent", 0), _batched("redraw", 0)
ascent_seed1, redraw_seed1 = _batched("ascent", 1), _batched("redraw", 1)


def real_share(n: int = 2000) -> None:
    """Print the share of real test and training digits whose MLP probability of their own digit,
    read as above, is below `GATE`: how ambiguous real handwriting is to the MLP."""
    from neuroart._util import tf
    from neuroart.data import load_mnist, to_float

    T = tf()
    _, _, taps, views = _models()
    (xtr, ytr), (xte, yte) = load_mnist("auto")
    for name, x, y in (("test", xte, yte), ("training", xtr, ytr)):
        x, y = to_float(x[:n]), np.asarray(y[:n])
        u = np.random.default_rng(0).random((VIEWS * n, 6), np.float32)
        logp = T.nn.log_softmax(taps(views.apply(T.tile(T.constant(x), [VIEWS, 1, 1]), T.constant(u)))("logits")).numpy()
        p = np.exp(logp[np.arange(VIEWS * n), np.tile(y, VIEWS)].reshape(VIEWS, n).mean(0))
        print(f"real {name} digits (first {n}): {np.mean(p < GATE):.1%} below {GATE}")


if __name__ == "__main__":
    real_share()
