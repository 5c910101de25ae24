"""Attribution maps: which pixels made the classifier read a digit as it did.

`explain(images)` returns an `Explanation`: a signed map (N, 28, 28) per digit -- positive where
ink speaks *for* the target class, negative where it speaks against it -- from one of four methods
(`neuroart.explain.methods`, one small object each, in captum's shape):

- ``gradient``: the plain gradient of the target's logit with respect to the pixels (saliency);
- ``smoothgrad``: that gradient averaged over `samples` copies with Gaussian noise of std `noise`
  (Smilkov et al. 2017; `NoiseTunnel` over `Gradient`, and it wraps any other method too);
- ``integrated``: Integrated Gradients (Sundararajan et al. 2017) from the **black image** (no
  ink, the natural "absence of a digit" for MNIST): ``(x - 0) * mean over a in (0, 1] of
  grad(x * a)``, `steps` midpoints. The map sums to ``logit(x) - logit(black)`` (completeness);
- ``occlusion``: the drop of the target's logit when a `window` x `window` patch is blacked out,
  averaged over the patches covering each pixel (stride `stride`).

The score explained is the target's logit (the input of the final softmax), or with `versus`
the difference of two logits -- "why a 7 and not a 1" -- which equals the difference of their
log-probabilities. Every method runs batched in one compiled TensorFlow function per model and
method (like the dream loop), so 100 digits take well under a second once the model is loaded;
SmoothGrad's noise is drawn per image from `seed` (same seed, same bytes)::

    >>> from neuroart.explain import explain, NoiseTunnel, IntegratedGradients
    >>> ex = explain(images, method="integrated")      # images (N, 28, 28) in [0, 1]
    >>> ex.maps.shape, ex.targets
    >>> na.save(ex.sheet(), out="why.png")
    >>> explain(images, method=NoiseTunnel(IntegratedGradients(8), samples=8, noise=0.2))
"""

from __future__ import annotations

import os

import numpy as np

from .._util import NeuroartError, progress, tf
from ..classify.read import DEFAULT_MODEL
from ..data import load_images  # moved to the data layer (issue 16); still importable here
from .methods import (
    BASELINE,
    REGISTRY,
    Gradient,
    IntegratedGradients,
    Method,
    NoiseTunnel,
    Occlusion,
    check_numbers,
    method_for,
)
from .result import Explanation

__all__ = ["BASELINE", "DEFAULT_METHOD", "METHODS", "REGISTRY", "Explanation", "Gradient", "IntegratedGradients",
           "Method", "NoiseTunnel", "Occlusion", "explain", "load_images", "target_logits"]

METHODS = tuple(REGISTRY)
#: The method `explain` uses unless told otherwise (chosen by deletion AUC and by eye; docs/explain.md).
DEFAULT_METHOD = "integrated"

_CHUNK = 64  # images per compiled call (a fixed shape: one trace per model and method)


# --------------------------------------------------------------------------- inputs


def _as_images(images) -> np.ndarray:
    x = np.asarray(images, np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise NeuroartError(f"images must have shape (N, 28, 28) or (28, 28), got {tuple(np.shape(images))}")
    if len(x) == 0:
        raise NeuroartError("images is empty: nothing to explain")
    if not np.all(np.isfinite(x)):
        raise NeuroartError("images have NaN or infinite values")
    return np.clip(x, 0.0, 1.0)


def _classes(value, n: int, name: str) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        arr = np.full(n, arr[0])
    if arr.shape != (n,):
        raise NeuroartError(f"{name} must be one digit or one per image ({n}), got {arr.size}")
    out = []
    for v in arr:
        try:
            d = int(v)
            if isinstance(v, (bool, np.bool_)) or d != float(v):
                raise ValueError
        except (TypeError, ValueError):
            raise NeuroartError(f"{name} must be a digit 0-9, got {v!r}") from None
        if not 0 <= d <= 9:
            raise NeuroartError(f"{name} must be a digit 0-9, got {d}")
        out.append(d)
    return np.asarray(out, np.int64)


def _model(model):
    from ..models import check_model, load_model

    if isinstance(model, (str, os.PathLike)):
        return load_model(model, role="classifier"), str(model)
    if not hasattr(model, "layers"):
        raise NeuroartError(f"model must be a bundled name, a .keras path or a Keras classifier, got {model!r}")
    return check_model(model, "classifier"), getattr(model, "name", "model")


def _weights(target: np.ndarray, versus: np.ndarray | None) -> np.ndarray:
    """(N, 10): +1 for the target, -1 for the versus class: the explained score is logits . w."""
    w = np.eye(10, dtype=np.float32)[target]
    return w if versus is None else w - np.eye(10, dtype=np.float32)[versus]


# --------------------------------------------------------------------------- compiled functions

_COMPILED: dict = {}


def _logit_fn(net):
    """logits(x (B, 28, 28)) -> (B, 10): the pre-softmax scores of any neuroart classifier."""
    from ..dream.render import ModelTaps

    taps = ModelTaps(net)
    return lambda x: taps(x)("logits")


def _compiled(net, how: Method):
    """One `tf.function` per (model, method key): (x, extra, w) -> raw output, cached across calls."""
    key = (id(net), how.key)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is net:
        return hit[1]
    t = tf()
    logits = _logit_fn(net)

    def score(x, w):  # w (B, 10): +1 for the target, -1 for the versus class
        return t.reduce_sum(logits(x) * w, axis=1)

    def grad(x, w):
        with t.GradientTape() as tape:
            tape.watch(x)
            s = t.reduce_sum(score(x, w))
        return tape.gradient(s, x)

    run = t.function(how.build(t, grad, score), reduce_retracing=True, autograph=False)  # no Python control flow
    _COMPILED[key] = (net, run, logits)
    if len(_COMPILED) > 16:
        _COMPILED.pop(next(iter(_COMPILED)))
    return run


def _probs(net, x: np.ndarray) -> np.ndarray:
    from ..classify.read import predict

    return predict(net, x).astype(np.float32)


def _attribute(net, how: Method, x: np.ndarray, w: np.ndarray, *, first: int, chunk: int, show: bool) -> np.ndarray:
    """Maps (N, 28, 28) for digits `x` and class weights `w`, `chunk` images per compiled call."""
    t = tf()
    run = _compiled(net, how)
    n = len(x)
    maps = np.empty((n, 28, 28), np.float32)
    with progress(length=n, label=f"explaining ({how.name})", show=show) as bar:
        for a in range(0, n, chunk):
            xb, wb = x[a : a + chunk], w[a : a + chunk]
            m = len(xb)
            if m < chunk:  # pad to a fixed shape, the next power of two: a few traces serve every call,
                size = min(chunk, 1 << (m - 1).bit_length())  # and one digit (the studio) costs one digit
                xb = np.concatenate([xb, np.zeros((size - m, 28, 28), np.float32)])
                wb = np.concatenate([wb, np.zeros((size - m, 10), np.float32)])
            raw = run(t.constant(xb), how.extra(t, first + a, m, len(xb)), t.constant(wb)).numpy()
            maps[a : a + m] = how.finish(raw)[:m]
            bar.update(m)
    return maps


# --------------------------------------------------------------------------- the entry point


def explain(images, *, model=DEFAULT_MODEL, method: str | Method = DEFAULT_METHOD, target=None, versus=None,
            steps: int = 16, samples: int = 32, noise: float = 0.15, window: int = 4, stride: int = 2,
            seed: int = 0, show_progress: bool = False, shard=None) -> Explanation:
    """Attribution maps for digits `images` (N, 28, 28) (or one (28, 28)) in [0, 1].

    `model`: the classifier (bundled name, ``.keras`` path or Keras model; default: the reader).
    `method`: ``gradient``, ``smoothgrad``, ``integrated`` (the default: Integrated Gradients from
    the black image) or ``occlusion`` -- or a `Method` object (`neuroart.explain.methods`, e.g.
    ``NoiseTunnel(IntegratedGradients(8))``), which carries its own numbers. `target`: the class
    to explain (one digit or one per image; None = the model's own reading of each image).
    `versus`: a class to contrast with: the map explains ``logit(target) - logit(versus)`` ("why
    a 7 and not a 1"); with `target` None the target is the likeliest class other than `versus`.
    `steps`: Integrated Gradients' path points; `samples` and `noise`: SmoothGrad's noisy copies
    and their std (images are in [0, 1]); `window` and `stride`: occlusion's patch; `seed`:
    SmoothGrad's noise.
    `shard` ``(i, n)`` (or ``"i/n"``) explains only part i of n of the images, in whole compiled
    chunks (`neuroart.distribute.job_rows`: the rows are the chunks), with SmoothGrad's noise drawn by
    each image's place in the whole job and the probabilities read chunk by chunk: parts
    0..n-1 concatenated are, byte for byte, the job run with ``shard=(0, 1)`` (the maps are also
    those of the run without `shard`; its probabilities, read in one batch, match to rounding).
    """
    numbers = {"steps": steps, "samples": samples, "noise": noise, "window": window, "stride": stride, "seed": seed}
    how = method_for(method, **numbers)
    x = _as_images(images)
    target, versus = _classes(target, len(x), "target"), _classes(versus, len(x), "versus")
    if target is not None and versus is not None and np.any(target == versus):
        raise NeuroartError(f"versus must differ from target (both {int(target[target == versus][0])})")
    check_numbers(**numbers)
    net, name = _model(model)
    chunk = max(1, min(_CHUNK, 8192 // max(how.cost(), 1)))
    first = 0
    if shard is not None:  # whole chunks of the job, each computed as in the whole run
        from ..distribute import job_rows, row_items

        items = row_items(job_rows(-(-len(x) // chunk), shard), chunk)  # the rows are compiled chunks
        first, x = items.start, x[items]
        target = None if target is None else target[items]
        versus = None if versus is None else versus[items]
        probs = np.concatenate([np.zeros((0, 10), np.float32)] + [_probs(net, x[a : a + chunk])
                                                                   for a in range(0, len(x), chunk)])
    else:
        probs = _probs(net, x)
    if target is None:
        order = np.argsort(-probs, axis=1, kind="stable")
        target = order[:, 0].copy()
        if versus is not None:  # the likeliest class that is not the one to contrast with
            clash = target == versus
            target[clash] = order[clash, 1]
    maps = _attribute(net, how, x, _weights(target, versus), first=first, chunk=chunk, show=show_progress)
    return Explanation(images=x, maps=maps, targets=target.astype(np.int64), probs=probs, method=how.name,
                       model=name, versus=versus, options={"seed": int(seed), **how.options()})


def target_logits(model, images, target, versus=None) -> np.ndarray:
    """The explained score per image: ``logit(target)`` or ``logit(target) - logit(versus)``, (N,)."""
    t = tf()
    net, _ = _model(model)
    x = _as_images(images)
    w = _weights(_classes(target, len(x), "target"), _classes(versus, len(x), "versus"))
    return t.reduce_sum(_logit_fn(net)(t.constant(x)) * w, axis=1).numpy()
