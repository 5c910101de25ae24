"""Random transforms applied to the batch at every step (lucid's ``optvis/transform.py``).

A dream that survives being shifted, scaled, rotated and blurred cannot lean on single-pixel
noise: the classifier must see a digit from every nearby viewpoint. All randomness is drawn
up front with NumPy from the seed (:meth:`Transforms.draw`) and fed to the compiled loop as a
tensor, so the same seed gives the same images, bit for bit.

Factories return :class:`Transform` pieces that combine into a pipeline::

    Transforms([jitter(2), scale(0.9, 1.1), rotate(10), blur(0.5)])

The affine pieces (jitter, scale, rotate) are fused into one bilinear warp per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._util import tf


@dataclass(frozen=True)
class Transform:
    kind: str  # jitter | scale | rotate | blur | noise
    a: float = 0.0
    b: float = 0.0


def jitter(pixels: float) -> Transform:
    """Shift by a random (dx, dy), each uniform in [-pixels, pixels] (sub-pixel, bilinear)."""
    return Transform("jitter", float(pixels))


def scale(low: float, high: float | None = None) -> Transform:
    """Zoom by a random factor, log-uniform in [low, high] (``scale(0.1)``: 1/1.1 .. 1.1)."""
    if high is None:
        low, high = 1.0 / (1.0 + low), 1.0 + low
    return Transform("scale", float(low), float(high))


def rotate(degrees: float) -> Transform:
    """Rotate by a random angle uniform in [-degrees, degrees] about the centre."""
    return Transform("rotate", float(degrees))


def blur(sigma: float) -> Transform:
    """Blend with a Gaussian blur of ``sigma`` pixels by a random amount in [0, 1]."""
    return Transform("blur", float(sigma))


def noise(std: float) -> Transform:
    """Add Gaussian pixel noise of standard deviation ``std``."""
    return Transform("noise", float(std))


_SLOTS = {"jitter": 2, "scale": 1, "rotate": 1, "blur": 1}


class Transforms:
    """A pipeline of random transforms for (N, H, W) batches: draw parameters, then apply."""

    def __init__(self, pieces=()):
        self.pieces = tuple(pieces)
        self.kinds = {p.kind: p for p in self.pieces}

    def __bool__(self):
        return bool(self.pieces)

    def __repr__(self):
        return "Transforms(" + ", ".join(f"{p.kind}({p.a:g}{',' + format(p.b, 'g') if p.b else ''})" for p in self.pieces) + ")"

    @property
    def width(self) -> int:
        # jitter(2) + scale(1) + rotate(1) + blur(1) + noise seed(1)
        return 6

    def draw(self, rng: np.random.Generator, steps: int, n: int) -> np.ndarray:
        """(steps, n, 6) float32 random numbers in [0, 1) -- the whole run's randomness."""
        return rng.random((steps, n, self.width), dtype=np.float32)

    def apply(self, images, u, noise_key=None):
        """Transform images (N, H, W) with per-image random numbers u (N, 6) in [0, 1)."""
        t = tf()
        if not self.pieces:
            return images
        k = self.kinds
        x = images[..., None]
        n = t.shape(images)[0]
        h = images.shape[1] or t.shape(images)[1]
        w = images.shape[2] or t.shape(images)[2]
        if "jitter" in k or "scale" in k or "rotate" in k:
            d = k["jitter"].a if "jitter" in k else 0.0
            dx = (u[:, 0] * 2 - 1) * d
            dy = (u[:, 1] * 2 - 1) * d
            if "scale" in k:
                lo, hi = math.log(k["scale"].a), math.log(k["scale"].b)
                s = t.exp(lo + u[:, 2] * (hi - lo))
            else:
                s = t.ones([n])
            if "rotate" in k:
                ang = (u[:, 3] * 2 - 1) * (k["rotate"].a * math.pi / 180.0)
            else:
                ang = t.zeros([n])
            x = _affine(x, dx, dy, s, ang, h, w)
        if "blur" in k and k["blur"].a > 0:
            x = _gauss_blur(x, u[:, 4], k["blur"].a)
        if "noise" in k and k["noise"].a > 0:
            # deterministic pseudo-noise from u[:, 5]: a stateless draw keyed by the step's numbers
            seed = t.cast(t.stack([t.reduce_sum(u[:, 5]) * 1e6, 7.0]), t.int32)
            x = x + t.random.stateless_normal(t.shape(x), seed=seed) * k["noise"].a
        return x[..., 0]


def _affine(x, dx, dy, s, ang, h, w):
    """Warp (N, H, W, 1): rotate by ang and zoom by s about the centre, then shift by (dx, dy)."""
    t = tf()
    cx = (t.cast(w, t.float32) - 1) / 2
    cy = (t.cast(h, t.float32) - 1) / 2
    c, sn = t.cos(ang) / s, t.sin(ang) / s
    # output (x, y) -> input: A (p - centre - d) + centre, with A = R(ang) / s
    ox, oy = cx + dx, cy + dy
    a0, a1 = c, -sn
    b0, b1 = sn, c
    a2 = cx - a0 * ox - a1 * oy
    b2 = cy - b0 * ox - b1 * oy
    zeros = t.zeros_like(a0)
    m = t.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return t.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=m,
        output_shape=t.stack([h, w]) if not isinstance(h, int) else [h, w],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _gauss_blur(x, amount, sigma):
    """Blend each image (N, H, W, 1) with its Gaussian blur (fixed sigma) by amount (N,) in [0, 1].

    The blur is two small matrix products, B @ x @ B.T with B a banded Gaussian (5 taps, zero
    beyond the border): the same as a 5x5 convolution, but much cheaper to differentiate on CPU
    for 28-pixel images. The random per-image blend gives a random blur strength.
    """
    t = tf()
    h, w = x.shape[1], x.shape[2]
    r = np.arange(-2, 3, dtype=np.float64)
    k1 = np.exp(-0.5 * (r / max(sigma, 1e-3)) ** 2)
    k1 /= k1.sum()

    def band(n):
        m = np.zeros((n, n), np.float32)
        for i in range(n):
            for d, kv in zip(range(-2, 3), k1, strict=True):
                if 0 <= i + d < n:
                    m[i, i + d] = kv
        return t.constant(m)

    img = x[..., 0]
    blurred = t.linalg.matmul(t.linalg.matmul(band(h), img), band(w), transpose_b=True)
    a = amount[:, None, None]
    return (img + a * (blurred - img))[..., None]


def standard(jitter_px: float = 2.0, scale_range: float = 0.1, degrees: float = 10.0, blur_sigma: float = 0.0) -> Transforms:
    """The default robustness pipeline for 28-pixel digits."""
    pieces = []
    if jitter_px:
        pieces.append(jitter(jitter_px))
    if scale_range:
        pieces.append(scale(scale_range))
    if degrees:
        pieces.append(rotate(degrees))
    if blur_sigma:
        pieces.append(blur(blur_sigma))
    return Transforms(pieces)


NONE = Transforms()
