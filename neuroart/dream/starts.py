"""Where a dream starts: the start images of ``--start`` (noise, blank, the mean digit warped per
sample, real test digits, an image file or a drawing)."""

from __future__ import annotations

import numpy as np

from .._util import NeuroartError, check_digits, tf
from . import transforms as TR
from ._mean import mean_digit

STARTS = ("noise", "blank", "mean", "digit")


def _warp_images(images, rng, amount):
    """Per-image random affine warp (rotation, zoom, shift) of (N, 28, 28) images."""
    if amount <= 0:
        return images
    t = tf()
    n = len(images)
    dx = rng.uniform(-2, 2, n) * amount
    dy = rng.uniform(-2, 2, n) * amount
    s = np.exp(rng.uniform(np.log(1 - 0.15 * amount), np.log(1 + 0.15 * amount), n))
    a = rng.uniform(-15, 15, n) * amount * np.pi / 180
    f = lambda v: t.constant(np.asarray(v, np.float32))  # noqa: E731
    out = TR._affine(f(images)[..., None], f(dx), f(dy), f(s), f(a), 28, 28)
    return np.clip(out.numpy()[..., 0], 0, 1)


def start_images(start: str, n: int, *, seed: int = 0, warp: float = 0.0, digits=None) -> np.ndarray | None:
    """(n, 28, 28) starting images for a `start` name or image path; None means 'noise'.

    `start` may also be one (28, 28) image array in [0, 1] (a drawing, as the studio sends it).
    `warp` warps each sample's copy of the mean digit, and each copy of a start image after the
    first (at 1: up to 15 degrees, 15% zoom, 2 pixels), so a dream's samples from one drawing
    differ as those from the mean digit do (0: every copy the same image).
    """
    rng = np.random.default_rng([int(seed), 0x7374])
    if not isinstance(start, str) and not hasattr(start, "__fspath__"):
        img = np.asarray(start, np.float32)
        if img.shape != (28, 28) or not np.all(np.isfinite(img)):
            raise NeuroartError(f"start image must be a finite (28, 28) array, got shape {img.shape}")
        return _copies(np.clip(img, 0, 1), n, rng, warp)
    if start == "noise":
        return None
    if start == "blank":
        return np.zeros((n, 28, 28), np.float32)
    if start == "mean":
        return _warp_images(np.broadcast_to(mean_digit(), (n, 28, 28)).copy(), rng, warp)
    if start == "digit" or start.startswith("digit:"):
        from ..data import load_mnist, to_float

        _, (x_test, y_test) = load_mnist()
        if start == "digit":
            pool = np.arange(len(x_test))
        else:
            d = check_digits([start.split(":", 1)[1]])[0]
            pool = np.flatnonzero(y_test == d)
        idx = rng.choice(pool, size=n, replace=len(pool) < n)
        return to_float(x_test[idx])
    from ..data import load_digit_image

    return _copies(load_digit_image(start), n, rng, warp)


def _copies(img, n: int, rng, amount: float) -> np.ndarray:
    """`n` copies of one image, each after the first warped by its own draw of `amount`."""
    out = np.broadcast_to(np.asarray(img, np.float32), (n, 28, 28)).copy()
    if amount > 0 and n > 1:
        out[1:] = _warp_images(out[1:], rng, amount)
    return out
