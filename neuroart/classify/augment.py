"""Seeded augmentation for training the reader: what real handwriting does to a digit.

One batched TensorFlow function (`augment_batch`) makes every change at once, each image drawing
its own random strengths from a stateless seed, so the same seed gives the same images:

- geometry: rotation, shear, scale, shift and elastic distortion (Simard et al. 2003), combined
  into one sampling grid and resampled once (bilinear);
- stroke width: thicker (grey dilation) or thinner (grey erosion) pens, blended partially;
- low resolution: down to 7x7 ... 20x20 (area) and back up (bilinear);
- a small scan (issue 18): stretched to fill its frame, 8-16 pixels across, 16 grey levels,
  enlarged back by nearest, bilinear or bicubic interpolation;
- blur (Gaussian), contrast and lighting (gain, gamma, a background level and a gradient),
  noise (Gaussian and salt-and-pepper).

`augment(images, seed=...)` is the NumPy door (float32 (N, 28, 28) in [0, 1] in and out);
`augmented_dataset` feeds `model.fit` with fresh changes every epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .._util import tf


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly and how often each change is applied (probabilities are per image)."""

    p_affine: float = 0.9
    rotate_deg: float = 30.0  # uniform in [-rotate, rotate]
    shear: float = 0.5  # horizontal shear factor, uniform in [-shear, shear]
    scale: tuple[float, float] = (0.7, 1.15)  # digit size relative to MNIST's
    aspect: float = 0.15  # independent x/y stretch, +- this fraction
    shift_px: float = 5.0  # uniform in [-shift, shift] on each axis
    p_elastic: float = 0.5
    elastic_alpha: float = 34.0  # displacement strength (pixels before smoothing)
    elastic_sigma: float = 4.0  # smoothing of the random field (pixels)
    p_stroke: float = 0.5  # half thicker, half thinner
    p_lowres: float = 0.2  # low resolution and blur exclude each other (one softening at most)
    lowres_sizes: tuple[int, ...] = (7, 8, 10, 12, 14, 16, 20)
    p_blur: float = 0.2
    blur_sigmas: tuple[float, ...] = (0.6, 0.9, 1.3)
    # a small scan stretched to its frame (issue 18), instead of the two above; off in the bundled
    # reader's recipe (not retrained yet: docs/reading.md)
    p_scan: float = 0.0
    scan_sizes: tuple[int, ...] = (8, 10, 16)  # scan pixels across the digit's 20-pixel box
    scan_stretch: tuple[float, float] = (1.3, 2.5)  # how much wider a narrow digit is drawn, at most
    p_light: float = 0.3
    p_noise: float = 0.25
    noise_sigma: float = 0.3  # Gaussian noise std, uniform in [0, this]
    salt_pepper: float = 0.08  # fraction of pixels flipped, uniform in [0, this]

    def as_card(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


DEFAULT = AugmentConfig()


# --------------------------------------------------------------------------- building blocks


def _gauss_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    radius = radius if radius is not None else max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _separable(x, kernel: np.ndarray):
    """Convolve (N, H, W, C) channel by channel with a 1-D kernel along both axes ('SAME', zeros)."""
    t = tf()
    c = x.shape[-1]
    k = t.constant(kernel)
    kx = t.tile(t.reshape(k, (1, -1, 1, 1)), (1, 1, c, 1))
    ky = t.tile(t.reshape(k, (-1, 1, 1, 1)), (1, 1, c, 1))
    x = t.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "SAME")
    return t.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "SAME")


def _bilinear(images, ys, xs):
    """Sample (N, H, W) images at float coordinates (N, H, W); outside the image is 0."""
    t = tf()
    n, h, w = t.shape(images)[0], 28, 28
    padded = t.pad(images, [[0, 0], [1, 1], [1, 1]])  # a ring of zeros: outside reads 0
    ys = t.clip_by_value(ys + 1.0, 0.0, h + 1.0 - 1e-3)
    xs = t.clip_by_value(xs + 1.0, 0.0, w + 1.0 - 1e-3)
    y0, x0 = t.floor(ys), t.floor(xs)
    wy, wx = ys - y0, xs - x0
    y0, x0 = t.cast(y0, t.int32), t.cast(x0, t.int32)
    y1, x1 = t.minimum(y0 + 1, h + 1), t.minimum(x0 + 1, w + 1)
    flat = t.reshape(padded, [-1])
    base = t.reshape(t.range(n) * (h + 2) * (w + 2), (-1, 1, 1))

    def at(yy, xx):
        return t.gather(flat, base + yy * (w + 2) + xx)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


def _uniform(seed, shape, lo=0.0, hi=1.0):
    return tf().random.stateless_uniform(shape, seed=seed, minval=lo, maxval=hi)


def _choose(options, index):
    """Per image, pick one of several (N, H, W) versions by an int index (N,)."""
    t = tf()
    stack = t.stack(options, axis=1)  # (N, K, H, W)
    return t.gather(stack, index, batch_dims=1)


# --------------------------------------------------------------------------- the batch function


class _Draws:
    """Per-image random numbers for one batch, each draw from its own stateless seed."""

    def __init__(self, seed, n):
        t = tf()
        self.n = n
        self.seeds = t.random.experimental.stateless_split(t.cast(seed, t.int64), num=48)
        self.next = iter(range(48))

    def seed(self):
        return self.seeds[next(self.next)]

    def u(self, shape=None, lo=0.0, hi=1.0):
        return _uniform(self.seed(), (self.n,) if shape is None else shape, lo, hi)

    def flag(self, p):
        return tf().cast(self.u() < p, tf().float32)


def _per_image(v):
    return tf().reshape(v, (-1, 1, 1))


_GRID = np.arange(28, dtype=np.float32) - 13.5  # pixel centres about the middle


def _geometry(x, r: _Draws, cfg: AugmentConfig):
    """Rotation, shear, scale, shift and elastic distortion, resampled once (bilinear); also
    returns the shifted pixel grid (y, x) about the middle (the lighting gradient's coordinates)."""
    t = tf()
    # output pixel (y, x) reads input at A @ (y - c, x - c) + c - shift + elastic
    on = r.flag(cfg.p_affine)
    ang = on * r.u(lo=-cfg.rotate_deg, hi=cfg.rotate_deg) * (math.pi / 180)
    shear = on * r.u(lo=-cfg.shear, hi=cfg.shear)
    scale = 1.0 + on * (r.u(lo=cfg.scale[0], hi=cfg.scale[1]) - 1.0)
    sx = scale * (1.0 + on * r.u(lo=-cfg.aspect, hi=cfg.aspect))
    sy = scale * (1.0 + on * r.u(lo=-cfg.aspect, hi=cfg.aspect))
    tx, ty = on * r.u(lo=-cfg.shift_px, hi=cfg.shift_px), on * r.u(lo=-cfg.shift_px, hi=cfg.shift_px)
    cos, sin = t.cos(ang), t.sin(ang)
    # inverse map: rotate by -ang, unshear, unscale
    a11, a12 = cos / sx, (sin - shear * cos) / sx
    a21, a22 = -sin / sy, (cos + shear * sin) / sy
    gy, gx = t.meshgrid(_GRID, _GRID, indexing="ij")
    gy, gx = gy[None] - _per_image(ty), gx[None] - _per_image(tx)
    src_x = _per_image(a11) * gx + _per_image(a12) * gy + 13.5
    src_y = _per_image(a21) * gx + _per_image(a22) * gy + 13.5
    el_on = r.flag(cfg.p_elastic)
    field = r.u((r.n, 28, 28, 2), -1.0, 1.0)
    field = _separable(field, _gauss_kernel(cfg.elastic_sigma, radius=8))
    # Simard's recipe: a uniform [-1, 1] field, smoothed by a normalised Gaussian, times alpha
    strength = _per_image(el_on * r.u(lo=0.3, hi=1.0)) * cfg.elastic_alpha
    return _bilinear(x, src_y + strength * field[..., 1], src_x + strength * field[..., 0]), (gy, gx)


def _pen(x, r: _Draws, cfg: AugmentConfig):
    """Stroke width: dilation (thick pen) or erosion (thin pen), blended by a random amount."""
    t = tf()
    x4 = x[..., None]
    thick = t.nn.max_pool2d(x4, 3, 1, "SAME")
    thicker = t.nn.max_pool2d(thick, 3, 1, "SAME")
    thin = -t.nn.max_pool2d(-x4, 2, 1, "SAME")
    thinner = -t.nn.max_pool2d(-x4, 3, 1, "SAME")
    st_on = r.flag(cfg.p_stroke)
    kind = t.minimum(t.cast(r.u() * 4, t.int32), 3)  # thick, thicker, thin, thinner
    target = _choose([v[..., 0] for v in (thick, thicker, thin, thinner)], kind)
    mix = _per_image(st_on * r.u(lo=0.5, hi=1.0))
    return (1 - mix) * x + mix * target


def _ink_box(x):
    """Per image, the ink's bounding box (> 0.1): top, bottom, left, right as floats (N,)."""
    t = tf()
    idx = t.range(28, dtype=t.float32)[None]
    rows, cols = t.reduce_max(x, axis=2) > 0.1, t.reduce_max(x, axis=1) > 0.1

    def ends(on):
        return (t.reduce_min(t.where(on, idx, 27.0), axis=1), t.reduce_max(t.where(on, idx, 0.0), axis=1))

    (top, bottom), (left, right) = ends(rows), ends(cols)
    return top, t.maximum(bottom, top), left, t.maximum(right, left)


def _scan(x, r: _Draws, cfg: AugmentConfig):
    """A small scan, as read back: the digit stretched to fill a square frame (a narrow digit
    widened 1.3-2.5 times at most), fitted into MNIST's 20-pixel box (shifted up to 2 pixels),
    box-filtered to `scan_sizes` pixels across the frame, quantised to 16 grey levels and
    enlarged back by nearest, bilinear or bicubic interpolation."""
    t = tf()
    top, bottom, left, right = _ink_box(x)
    h, w = bottom - top + 1.0, right - left + 1.0
    aspect = t.minimum(1.0, w / h * r.u(lo=cfg.scan_stretch[0], hi=cfg.scan_stretch[1]))
    bh = 20.0 * t.minimum(1.0, h / w)  # a digit wider than tall fills the box's width
    bw = t.maximum(aspect * 20.0, 20.0 * t.minimum(1.0, w / h))
    bw = t.where(w > h, 20.0 * t.ones_like(bw), bw)
    dy, dx = r.u(lo=-2.0, hi=2.0), r.u(lo=-2.0, hi=2.0)
    gy, gx = t.meshgrid(_GRID, _GRID, indexing="ij")
    src_y = _per_image(top - 0.5) + (gy[None] + _per_image(bh / 2 - dy)) * _per_image(h / bh)
    src_x = _per_image(left - 0.5) + (gx[None] + _per_image(bw / 2 - dx)) * _per_image(w / bw)
    inside = (gy[None] + _per_image(bh / 2 - dy) >= 0) & (gy[None] + _per_image(-bh / 2 - dy) < 0)
    inside &= (gx[None] + _per_image(bw / 2 - dx) >= 0) & (gx[None] + _per_image(-bw / 2 - dx) < 0)
    framed = t.where(inside, _bilinear(x, src_y - 0.5, src_x - 0.5), 0.0)
    versions = []
    for size in cfg.scan_sizes:  # pixels across the 20-pixel box
        small = t.image.resize(framed[..., None], (round(size * 1.4), round(size * 1.4)), method="area")
        small = small / t.maximum(t.reduce_max(small, axis=(1, 2, 3), keepdims=True), 1e-3)
        small = t.round(small * 15.0) / 15.0
        for method in ("nearest", "bilinear", "bicubic"):
            versions.append(t.image.resize(small, (28, 28), method=method)[..., 0])
    pick = t.minimum(t.cast(r.u() * len(versions), t.int32), len(versions) - 1)
    return t.clip_by_value(_choose(versions, pick), 0.0, 1.0)


def _soften(x, r: _Draws, cfg: AugmentConfig):
    """One softening at most: low resolution (area down, bilinear up), blur, or a small scan."""
    t = tf()
    soften = r.u()
    lr_on = t.cast(soften < cfg.p_lowres, t.float32)
    versions = [x]
    for size in cfg.lowres_sizes:
        small = t.image.resize(x[..., None], (size, size), method="area")
        versions.append(t.image.resize(small, (28, 28), method="bilinear")[..., 0])
    pick = t.cast(r.u() * len(cfg.lowres_sizes), t.int32) + 1
    x = _choose(versions, t.cast(lr_on, t.int32) * t.minimum(pick, len(cfg.lowres_sizes)))
    bl_on = t.cast((soften >= cfg.p_lowres) & (soften < cfg.p_lowres + cfg.p_blur), t.float32)
    blurred = [x] + [_separable(x[..., None], _gauss_kernel(sg))[..., 0] for sg in cfg.blur_sigmas]
    pick = t.cast(r.u() * len(cfg.blur_sigmas), t.int32) + 1
    x = _choose(blurred, t.cast(bl_on, t.int32) * t.minimum(pick, len(cfg.blur_sigmas)))
    if cfg.p_scan > 0:
        sc_on = (soften >= cfg.p_lowres + cfg.p_blur) & (soften < cfg.p_lowres + cfg.p_blur + cfg.p_scan)
        x = t.where(_per_image(sc_on), _scan(x, r, cfg), x)
    # renormalise ink strength (a resampled or blurred stroke keeps a bright core)
    peak = t.reduce_max(x, axis=(1, 2), keepdims=True)
    return x / t.maximum(peak, 0.3)


def _light_and_noise(x, grid, r: _Draws, cfg: AugmentConfig):
    """Contrast and lighting (gain, gamma, a background level, a linear gradient over `grid`),
    then noise (Gaussian and salt-and-pepper)."""
    t = tf()
    li_on = r.flag(cfg.p_light)
    gain = 1.0 - li_on * r.u(lo=0.0, hi=0.4)
    gamma = t.exp(li_on * r.u(lo=-0.5, hi=0.5))
    level = li_on * r.u(lo=0.0, hi=0.2)
    gdir = r.u(lo=0.0, hi=2 * math.pi)
    gamp = li_on * r.u(lo=0.0, hi=0.3)
    gy, gx = grid
    ramp = (t.cos(_per_image(gdir)) * gx + t.sin(_per_image(gdir)) * gy) / 28.0 + 0.5  # 0..1 across
    x = t.pow(t.clip_by_value(x, 0.0, 1.0) + 1e-6, _per_image(gamma)) * _per_image(gain)
    x = x + _per_image(level) + _per_image(gamp) * ramp * (1 - x)
    no_on = r.flag(cfg.p_noise)
    sigma = _per_image(no_on * gain * r.u(lo=0.0, hi=cfg.noise_sigma))
    x = x + sigma * t.random.stateless_normal((r.n, 28, 28), seed=r.seed())
    sp = _per_image(no_on * r.u(lo=0.0, hi=cfg.salt_pepper))
    flip = r.u((r.n, 28, 28))
    return t.where(flip < sp / 2, 0.0, t.where(flip > 1 - sp / 2, 1.0, x))


def augment_batch(x, seed, cfg: AugmentConfig = DEFAULT):
    """Augment a batch: float32 tensor (N, 28, 28) in [0, 1], `seed` a shape-(2,) int tensor."""
    t = tf()
    x = t.convert_to_tensor(x, t.float32)
    r = _Draws(seed, t.shape(x)[0])
    x, grid = _geometry(x, r, cfg)
    x = _soften(_pen(x, r, cfg), r, cfg)
    x = _light_and_noise(x, grid, r, cfg)
    return t.clip_by_value(x, 0.0, 1.0)


def augment(images: np.ndarray, *, seed: int = 0, config: AugmentConfig = DEFAULT, batch_size: int = 2048) -> np.ndarray:
    """Augmented copies of float32 images (N, 28, 28) in [0, 1]; the same seed gives the same bytes."""
    images = np.asarray(images, np.float32)
    if images.ndim == 2:
        images = images[None]
    fn = _compiled(config)
    out = [
        np.asarray(fn(images[i : i + batch_size], tf().constant([int(seed), i], tf().int64)))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out) if out else images.copy()


_fns: dict = {}


def _compiled(cfg: AugmentConfig):
    if cfg not in _fns:
        t = tf()
        _fns[cfg] = t.function(
            lambda x, s: augment_batch(x, s, cfg),
            input_signature=[t.TensorSpec((None, 28, 28), t.float32), t.TensorSpec((2,), t.int64)],
            reduce_retracing=True,
            autograph=False,
        )
    return _fns[cfg]


def augmented_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, epochs: int, seed: int,
                      config: AugmentConfig = DEFAULT, clean_fraction: float = 0.0, polish_epochs: int = 0,
                      polish_clean_fraction: float = 0.75):
    """A `tf.data.Dataset` of shuffled, augmented batches (endless; fit takes `epochs` worth), seeded.

    Batch number i (counted over the whole run) is augmented with the seed (seed, i), so every
    epoch sees fresh changes and the same seed gives the same run. `clean_fraction` of each
    batch is left as MNIST made it (keeps the clean accuracy up); in the last `polish_epochs`
    epochs that share is `polish_clean_fraction`.
    """
    t = tf()
    n = len(x)
    steps = -(-n // batch_size)
    polish_after = max(0, epochs - polish_epochs) * steps if polish_epochs else None
    ds = t.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y, np.int64)))
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch_size).repeat().enumerate()

    def apply(i, batch):
        xb, yb = batch
        s = t.stack([t.constant(int(seed), t.int64), i])
        aug = augment_batch(xb, s, config)
        share = t.constant(clean_fraction, t.float32)
        if polish_after is not None:
            share = t.where(i >= polish_after, t.constant(polish_clean_fraction, t.float32), share)
        keep = _uniform(t.stack([i, t.constant(int(seed), t.int64)]), (t.shape(xb)[0], 1, 1)) < share
        return t.where(keep, xb, aug), yb

    return ds.map(apply, num_parallel_calls=1, deterministic=True).prefetch(2)
