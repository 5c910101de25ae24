"""Attribution methods as small objects, in captum's shape: one class per method on a shared base.

A `Method` says how it compiles (`build`: a function of a batch of digits, its extra input and
the class weights, traced once per model), what extra input it takes (`extra`: the path
fractions, the occlusion masks, the noise), what a chunk costs (`cost`: model inputs per
image) and how its raw output becomes a map (`finish`). `NoiseTunnel` wraps any method for
SmoothGrad (Smilkov et al. 2017): the same method, averaged over noisy copies of each digit.
`REGISTRY` names the four that the CLI and the studio offer; `explain` also takes an object::

    >>> explain(images, method=NoiseTunnel(IntegratedGradients(steps=8), samples=16))
"""

from __future__ import annotations

import numpy as np

from ..validate import finite, integer

__all__ = ["BASELINE", "REGISTRY", "Gradient", "IntegratedGradients", "Method", "NoiseTunnel", "Occlusion",
           "check_numbers", "method_for"]

#: Integrated Gradients' baseline: the black image (no ink).
BASELINE = "black"
MAX_PASSES = 1024  # the most steps or noisy samples per image


class Method:
    """One attribution method. `name` is what the recipe records; `key` names its compiled
    function (the same for any numbers: they travel in the extra input)."""

    name = "method"

    @property
    def key(self) -> str:
        return self.name

    def cost(self) -> int:
        """Model inputs per image (sets how many images one compiled call takes)."""
        return 1

    def options(self) -> dict:
        """The numbers that shape this method's maps, for the recipe."""
        return {}

    def build(self, t, grad, score):
        """A function ``(x (B, 28, 28), extra, w (B, 10)) -> raw output``, to be traced.
        `grad(x, w)` is the gradient of the weighted logits, `score(x, w)` the weighted logits."""
        raise NotImplementedError

    def extra(self, t, first: int, count: int, size: int):
        """The extra input for a chunk of `size` images (the first `count` real, the chunk
        starting at image `first` of the whole job)."""
        return t.constant(0.0)

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """Raw output (a NumPy array) -> signed maps (B, 28, 28)."""
        return raw


class Gradient(Method):
    """The plain gradient of the explained score with respect to the pixels (saliency)."""

    name = "gradient"

    def build(self, t, grad, score):
        return lambda x, extra, w: grad(x, w)


class IntegratedGradients(Method):
    """Integrated Gradients (Sundararajan et al. 2017) from the black image: ``x * mean over
    a in (0, 1] of grad(a x)`` at `steps` midpoints; the map sums to ``score(x) - score(0)``."""

    name = "integrated"

    def __init__(self, steps: int = 16):
        self.steps = integer("steps", steps, low=1, high=MAX_PASSES)

    def cost(self) -> int:
        return self.steps

    def options(self) -> dict:
        return {"steps": self.steps, "baseline": BASELINE}

    def build(self, t, grad, score):
        def run(x, alphas, w):  # alphas: the path fractions (S,), baseline black
            b, s = t.shape(x)[0], t.shape(alphas)[0]
            xs = t.reshape(x[:, None] * alphas[None, :, None, None], (-1, 28, 28))
            ws = t.reshape(t.repeat(w[:, None], s, axis=1), (-1, 10))
            g = t.reshape(grad(xs, ws), (b, s, 28, 28))
            return x * t.reduce_mean(g, axis=1)

        return run

    def extra(self, t, first, count, size):
        return t.constant(((np.arange(self.steps) + 0.5) / self.steps).astype(np.float32))  # midpoints


class Occlusion(Method):
    """The drop of the explained score when a `window` x `window` patch is blacked out, averaged
    over the patches covering each pixel (patches every `stride` pixels)."""

    name = "occlusion"

    def __init__(self, window: int = 4, stride: int = 2):
        self.window = integer("window", window, low=1, high=28)
        self.stride = integer("stride", stride, low=1, high=self.window)
        starts = list(range(0, 28 - self.window + 1, self.stride))
        if starts[-1] != 28 - self.window:
            starts.append(28 - self.window)
        masks = np.ones((len(starts) ** 2, 28, 28), np.float32)
        for i, (r, c) in enumerate((r, c) for r in starts for c in starts):
            masks[i, r : r + self.window, c : c + self.window] = 0.0
        self.masks = masks  # (P, 28, 28), 1 = kept
        self.cover = (1.0 - masks).sum(axis=0)  # how many patches cover each pixel

    def cost(self) -> int:
        return len(self.masks)

    def options(self) -> dict:
        return {"window": self.window, "stride": self.stride}

    def build(self, t, grad, score):
        def run(x, masks, w):  # returns the per-patch drops (B, P)
            b, p = t.shape(x)[0], t.shape(masks)[0]
            xs = t.reshape(x[:, None] * masks[None], (-1, 28, 28))
            ws = t.reshape(t.repeat(w[:, None], p, axis=1), (-1, 10))
            full = score(x, w)
            return full[:, None] - t.reshape(score(xs, ws), (b, p))

        return run

    def extra(self, t, first, count, size):
        return t.constant(self.masks)

    def finish(self, raw):
        return np.einsum("bp,phw->bhw", raw, 1.0 - self.masks) / self.cover


class NoiseTunnel(Method):
    """Any method averaged over `samples` copies of each digit with Gaussian noise of std `noise`
    (SmoothGrad when the method is `Gradient`). Each image's noise comes from ``(seed, its place
    in the whole job)``: the same digit gets the same map alone, in a batch or in a shard."""

    def __init__(self, method: Method, samples: int = 32, noise: float = 0.15, seed: int = 0):
        self.method = method
        self.samples = integer("samples", samples, low=1, high=MAX_PASSES)
        self.noise = finite("noise", noise, low=0, high=1)
        self.seed = integer("seed", seed, low=0)

    @property
    def name(self) -> str:
        inner = self.method.name
        return "smoothgrad" if inner == "gradient" else f"smoothgrad({inner})"

    @property
    def key(self) -> str:
        return f"noisetunnel({self.method.key})"

    def cost(self) -> int:
        return self.samples * self.method.cost()

    def options(self) -> dict:
        return {**self.method.options(), "samples": self.samples, "noise": self.noise, "seed": self.seed}

    def build(self, t, grad, score):
        inner = self.method.build(t, grad, score)

        def run(x, extra, w):  # extra: (noise (B, S, 28, 28), the method's own extra input)
            eps, more = extra
            b, s = t.shape(eps)[0], t.shape(eps)[1]
            xs = t.reshape(x[:, None] + eps, (-1, 28, 28))
            ws = t.reshape(t.repeat(w[:, None], s, axis=1), (-1, 10))
            raw = inner(xs, more, ws)
            raw = t.reshape(raw, t.concat([[b, s], t.shape(raw)[1:]], axis=0))
            return t.reduce_mean(raw, axis=1)

        return run

    def extra(self, t, first, count, size):
        eps = np.zeros((size, self.samples, 28, 28), np.float32)
        for i in range(count):  # per image, from (seed, index): independent of the chunking
            rng = np.random.default_rng([self.seed, first + i, 0x5347])
            eps[i] = rng.standard_normal((self.samples, 28, 28), np.float32) * np.float32(self.noise)
        return (t.constant(eps), self.method.extra(t, first, count, size))

    def finish(self, raw):
        return self.method.finish(raw)


#: The methods by name (the CLI's and the studio's choices), each made from `explain`'s numbers.
REGISTRY = {
    "gradient": lambda *, steps, samples, noise, window, stride, seed: Gradient(),
    "smoothgrad": lambda *, steps, samples, noise, window, stride, seed: NoiseTunnel(
        Gradient(), samples=samples, noise=noise, seed=seed),
    "integrated": lambda *, steps, samples, noise, window, stride, seed: IntegratedGradients(steps),
    "occlusion": lambda *, steps, samples, noise, window, stride, seed: Occlusion(window, stride),
}


def method_for(method, **numbers) -> Method:
    """A `Method` object as given, or the one `REGISTRY` makes from a name and `numbers`
    (steps, samples, noise, window, stride, seed)."""
    from .._util import NeuroartError

    if isinstance(method, Method):
        return method
    if not isinstance(method, str) or method not in REGISTRY:
        raise NeuroartError(f"unknown method {method!r} (choose from {', '.join(REGISTRY)})")
    return REGISTRY[method](**numbers)


def check_numbers(*, steps, samples, noise, window, stride, seed) -> None:
    """Every number `explain` takes, checked whatever the method (a bad one fails even when unused)."""
    IntegratedGradients(steps)
    Occlusion(window, stride)
    NoiseTunnel(Gradient(), samples=samples, noise=noise, seed=seed)
