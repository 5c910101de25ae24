"""Attribution maps: which pixels made the classifier read a digit as it did.

`explain(images)` returns an `Explanation`: a signed map (N, 28, 28) per digit -- positive where
ink speaks *for* the target class, negative where it speaks against it -- from one of four methods:

- ``gradient``: the plain gradient of the target's logit with respect to the pixels (saliency);
- ``smoothgrad``: that gradient averaged over `samples` copies with Gaussian noise of std `noise`
  (Smilkov et al. 2017), meant to average out the plain gradient's speckle (on the nearly
  piecewise-linear MLP it changes little);
- ``integrated``: Integrated Gradients (Sundararajan et al. 2017) from the **black image** (no
  ink, the natural "absence of a digit" for MNIST): ``(x - 0) * mean over a in (0, 1] of
  grad(x * a)``, `steps` midpoints. The map sums to ``logit(x) - logit(black)`` (completeness);
- ``occlusion``: the drop of the target's logit when a `window` x `window` patch is blacked out,
  averaged over the patches covering each pixel (stride `stride`).

The score explained is the target's logit (the input of the final softmax), or with `versus`
the difference of two logits -- "why a 7 and not a 1" -- which equals the difference of their
log-probabilities. Every method runs batched in one compiled TensorFlow function per model and
method (like the dream loop), so 100 digits take well under a second once the model is loaded;
SmoothGrad's noise is drawn per image from `seed` (same seed, same bytes).

`neuroart.explain` (``na.explain``) is this module, and calling it calls `explain`::

    >>> import neuroart as na
    >>> ex = na.explain(images, method="integrated")      # images (N, 28, 28) in [0, 1]
    >>> ex.maps.shape, ex.targets
    >>> na.save(ex.sheet(), out="why.png")
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field

import numpy as np

from ._util import NeuroartError, progress, tf
from .classify.read import DEFAULT_MODEL
from .data import load_images  # moved to the data layer (issue 16); still importable here

__all__ = ["DEFAULT_METHOD", "METHODS", "Explanation", "explain", "load_images", "target_logits"]

METHODS = ("gradient", "smoothgrad", "integrated", "occlusion")
#: The method `explain` uses unless told otherwise (chosen by deletion AUC and by eye; docs/explain.md).
DEFAULT_METHOD = "integrated"
#: Integrated Gradients' baseline: the black image (no ink).
BASELINE = "black"

_CHUNK = 64  # images per compiled call (a fixed shape: one trace per model and method)


@dataclass
class Explanation:
    """What `explain` found: the digits as the model saw them, their signed maps, and the reading."""

    images: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    maps: np.ndarray  # (N, 28, 28) float32, signed: + for the target, - against it
    targets: np.ndarray  # (N,) int64, the class each map explains
    probs: np.ndarray  # (N, 10) float32, the model's probabilities
    method: str
    model: str
    versus: np.ndarray | None = None  # (N,) int64 when the maps are contrasts
    options: dict = field(default_factory=dict)  # steps, samples, noise, window, seed...

    def sheet(self, *, labels: bool = True):
        """A `neuroart.outputs.Sheet`: one row per digit -- the digit, its map, the overlay.

        The map is drawn in the diverging colour map (`neuroart.imaging.diverging`: warm = for the
        target, cool = against, black = indifferent), each row scaled to its own largest value.
        """
        from .imaging import diverging, overlay
        from .outputs import Sheet

        n = len(self.images)
        gray = np.repeat(self.images[..., None], 3, axis=-1)
        colour = diverging(self.maps)
        over = overlay(self.images, self.maps)
        cells = np.stack([gray, colour, over], axis=1).reshape(3 * n, 28, 28, 3).astype(np.float32)
        row_labels = None
        if labels:
            row_labels = []
            for i in range(n):
                t = int(self.targets[i])
                text = f"{t} {self.probs[i, t]:.0%}"
                if self.versus is not None:
                    text += f" vs {int(self.versus[i])}"
                row_labels.append(text)
        recipe = {"model": self.model, "method": self.method, **{k: v for k, v in self.options.items()}}
        with _suppress():
            from .models import model_hash

            recipe["model_sha256"] = model_hash(self.model)
        # --npz: `images` are the digits as the model saw them (not the coloured cells)
        arrays = {"images": self.images.astype(np.float32), "maps": self.maps.astype(np.float32),
                  "targets": self.targets.astype(np.int64), "probs": self.probs.astype(np.float32)}
        if self.versus is not None:
            arrays["versus"] = self.versus.astype(np.int64)
        message = f"{self.method} attribution of {n} digit{'s' if n != 1 else ''} on {self.model}"
        return Sheet(images=cells, ncols=3, row_labels=row_labels, recipe=recipe, message=message,
                     arrays=arrays)


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], (NeuroartError, OSError))


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
    from .models import check_model, load_model

    if isinstance(model, (str, os.PathLike)):
        return load_model(model, role="classifier"), str(model)
    if not hasattr(model, "layers"):
        raise NeuroartError(f"model must be a bundled name, a .keras path or a Keras classifier, got {model!r}")
    return check_model(model, "classifier"), getattr(model, "name", "model")


# --------------------------------------------------------------------------- compiled functions

_COMPILED: dict = {}


def _logit_fn(net):
    """logits(x (B, 28, 28)) -> (B, 10): the pre-softmax scores of any neuroart classifier."""
    from .dream.render import ModelTaps

    taps = ModelTaps(net)
    return lambda x: taps(x)("logits")


def _compiled(net, method: str):
    """One `tf.function` per (model, method): (x, aux, onehot) -> maps, cached across calls."""
    key = (id(net), method)
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

    if method == "gradient":

        @t.function(reduce_retracing=True, autograph=False)  # no Python control flow to convert
        def run(x, aux, w):
            return grad(x, w)

    elif method == "smoothgrad":

        @t.function(reduce_retracing=True, autograph=False)  # no Python control flow to convert
        def run(x, aux, w):  # aux: noise (B, S, 28, 28)
            b, s = t.shape(aux)[0], t.shape(aux)[1]
            xs = t.reshape(x[:, None] + aux, (-1, 28, 28))
            ws = t.reshape(t.repeat(w[:, None], s, axis=1), (-1, 10))
            g = t.reshape(grad(xs, ws), (b, s, 28, 28))
            return t.reduce_mean(g, axis=1)

    elif method == "integrated":

        @t.function(reduce_retracing=True, autograph=False)  # no Python control flow to convert
        def run(x, aux, w):  # aux: the path fractions (S,), baseline black
            b, s = t.shape(x)[0], t.shape(aux)[0]
            xs = t.reshape(x[:, None] * aux[None, :, None, None], (-1, 28, 28))
            ws = t.reshape(t.repeat(w[:, None], s, axis=1), (-1, 10))
            g = t.reshape(grad(xs, ws), (b, s, 28, 28))
            return x * t.reduce_mean(g, axis=1)

    else:  # occlusion

        @t.function(reduce_retracing=True, autograph=False)  # no Python control flow to convert
        def run(x, aux, w):  # aux: masks (P, 28, 28), 1 = kept; returns per-patch drops (B, P)
            b, p = t.shape(x)[0], t.shape(aux)[0]
            xs = t.reshape(x[:, None] * aux[None], (-1, 28, 28))
            ws = t.reshape(t.repeat(w[:, None], p, axis=1), (-1, 10))
            full = score(x, w)
            return full[:, None] - t.reshape(score(xs, ws), (b, p))

    _COMPILED[key] = (net, run, logits)
    if len(_COMPILED) > 16:
        _COMPILED.pop(next(iter(_COMPILED)))
    return run


def _occlusion_masks(window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    starts = list(range(0, 28 - window + 1, stride))
    if starts[-1] != 28 - window:
        starts.append(28 - window)
    masks = []
    for r in starts:
        for c in starts:
            m = np.ones((28, 28), np.float32)
            m[r : r + window, c : c + window] = 0.0
            masks.append(m)
    masks = np.stack(masks)
    cover = (1.0 - masks).sum(axis=0)  # how many patches cover each pixel
    return masks, cover


def _chunk_size(method: str, samples: int, steps: int, window: int, stride: int) -> int:
    """Images per compiled call: `_CHUNK`, fewer when each image expands into many inputs."""
    per_image = {"smoothgrad": samples, "integrated": steps,
                 "occlusion": len(_occlusion_masks(window, stride)[0]) if method == "occlusion" else 1}
    return max(1, _CHUNK if method == "gradient" else min(_CHUNK, 8192 // max(per_image[method], 1)))


def _probs(net, x: np.ndarray) -> np.ndarray:
    from .classify.read import predict

    return predict(net, x).astype(np.float32)


# --------------------------------------------------------------------------- the entry point


def explain(images, *, model=DEFAULT_MODEL, method: str = DEFAULT_METHOD, target=None, versus=None,
            steps: int = 16, samples: int = 32, noise: float = 0.15, window: int = 4, stride: int = 2,
            seed: int = 0, show_progress: bool = False, shard=None) -> Explanation:
    """Attribution maps for digits `images` (N, 28, 28) (or one (28, 28)) in [0, 1].

    `model`: the classifier (bundled name, ``.keras`` path or Keras model; default: the reader).
    `method`: ``gradient``, ``smoothgrad``, ``integrated`` (the default: Integrated Gradients from
    the black image) or ``occlusion``. `target`: the class to explain (one digit or one per image;
    None = the model's own reading of each image). `versus`: a class to contrast with: the map
    explains ``logit(target) - logit(versus)`` ("why a 7 and not a 1"); with `target` None the
    target is the likeliest class other than `versus`. `steps`: Integrated Gradients' path points;
    `samples` and `noise`: SmoothGrad's noisy copies and their std (images are in [0, 1]);
    `window` and `stride`: occlusion's patch; `seed`: SmoothGrad's noise.
    `shard` ``(i, n)`` (or ``"i/n"``) explains only part i of n of the images, in whole compiled
    chunks (`neuroart.distribute.shard_range` over the chunks), with SmoothGrad's noise drawn by
    each image's place in the whole job and the probabilities read chunk by chunk: parts
    0..n-1 concatenated are, byte for byte, the job run with ``shard=(0, 1)`` (the maps are also
    those of the run without `shard`; its probabilities, read in one batch, match to rounding).
    """
    if method not in METHODS:
        raise NeuroartError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    x = _as_images(images)
    n = len(x)
    target = _classes(target, n, "target")
    versus = _classes(versus, n, "versus")
    if target is not None and versus is not None and np.any(target == versus):
        raise NeuroartError(f"versus must differ from target (both {int(target[target == versus][0])})")
    steps, samples, window, stride = int(steps), int(samples), int(window), int(stride)
    if not 1 <= steps <= 1024:
        raise NeuroartError(f"steps must be between 1 and 1024, got {steps}")
    if not 1 <= samples <= 1024:
        raise NeuroartError(f"samples must be between 1 and 1024, got {samples}")
    if not (np.isfinite(noise) and 0 <= float(noise) <= 1):
        raise NeuroartError(f"noise must be between 0 and 1, got {noise}")
    if not 1 <= window <= 28 or not 1 <= stride <= window:
        raise NeuroartError(f"occlusion needs 1 <= window <= 28 and 1 <= stride <= window, got {window}, {stride}")
    net, name = _model(model)
    chunk = _chunk_size(method, samples, steps, window, stride)
    first = 0
    if shard is not None:  # whole chunks of the job, each computed as in the whole run
        from .distribute import check_shard, shard_range

        part = shard_range(-(-n // chunk), *check_shard(shard))
        first, stop = part.start * chunk, min(part.stop * chunk, n)
        x, n = x[first:stop], max(0, min(part.stop * chunk, n) - first)
        target = None if target is None else target[first:stop]
        versus = None if versus is None else versus[first:stop]
        probs = np.concatenate([np.zeros((0, 10), np.float32)] + [_probs(net, x[a : a + chunk]) for a in range(0, n, chunk)])
    else:
        probs = _probs(net, x)
    if target is None:
        order = np.argsort(-probs, axis=1, kind="stable")
        target = order[:, 0].copy()
        if versus is not None:  # the likeliest class that is not the one to contrast with
            clash = target == versus
            target[clash] = order[clash, 1]
    w = np.eye(10, dtype=np.float32)[target]
    if versus is not None:
        w = w - np.eye(10, dtype=np.float32)[versus]

    t = tf()
    run = _compiled(net, method)
    options: dict = {"seed": int(seed)}
    if method == "smoothgrad":
        options.update(samples=samples, noise=float(noise))
    elif method == "integrated":
        options.update(steps=steps, baseline=BASELINE)
        alphas = t.constant(((np.arange(steps) + 0.5) / steps).astype(np.float32))  # midpoints
    elif method == "occlusion":
        options.update(window=window, stride=stride)
        masks, cover = _occlusion_masks(window, stride)
        masks_t = t.constant(masks)
    maps = np.empty((n, 28, 28), np.float32)
    with progress(length=n, label=f"explaining ({method})", show=show_progress) as bar:
        for a in range(0, n, chunk):
            xb, wb = x[a : a + chunk], w[a : a + chunk]
            m = len(xb)
            if m < chunk:  # pad to a fixed shape, the next power of two: a few traces serve every call,
                size = min(chunk, 1 << (m - 1).bit_length())  # and one digit (the studio) costs one digit
                xb = np.concatenate([xb, np.zeros((size - m, 28, 28), np.float32)])
                wb = np.concatenate([wb, np.zeros((size - m, 10), np.float32)])
            if method == "gradient":
                out = run(t.constant(xb), t.constant(0.0), t.constant(wb)).numpy()
            elif method == "smoothgrad":
                eps = np.zeros((len(xb), samples, 28, 28), np.float32)
                for i in range(m):  # per image, from (seed, index): independent of the chunking
                    rng = np.random.default_rng([int(seed), first + a + i, 0x5347])
                    eps[i] = rng.standard_normal((samples, 28, 28), np.float32) * np.float32(noise)
                out = run(t.constant(xb), t.constant(eps), t.constant(wb)).numpy()
            elif method == "integrated":
                out = run(t.constant(xb), alphas, t.constant(wb)).numpy()
            else:
                drops = run(t.constant(xb), masks_t, t.constant(wb)).numpy()  # (B, P)
                out = np.einsum("bp,phw->bhw", drops, 1.0 - masks) / cover
            maps[a : a + m] = out[:m]
            bar.update(m)
    return Explanation(images=x, maps=maps.astype(np.float32), targets=target.astype(np.int64), probs=probs,
                       method=method, model=name, versus=versus, options=options)


def target_logits(model, images, target, versus=None) -> np.ndarray:
    """The explained score per image: ``logit(target)`` or ``logit(target) - logit(versus)``, (N,)."""
    t = tf()
    net, _ = _model(model)
    x = _as_images(images)
    target = _classes(target, len(x), "target")
    w = np.eye(10, dtype=np.float32)[target]
    if versus is not None:
        w = w - np.eye(10, dtype=np.float32)[_classes(versus, len(x), "versus")]
    logits = _logit_fn(net)
    return t.reduce_sum(logits(t.constant(x)) * w, axis=1).numpy()


class _CallableModule(types.ModuleType):
    """`neuroart.explain` is this module; calling it calls `explain` (``na.explain(images)``)."""

    def __call__(self, *args, **kwargs):
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
