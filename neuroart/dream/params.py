"""How the image is represented while it is optimised (lucid's ``optvis/param``).

A parameterisation holds the initial values of the optimised tensors (``init``, a list of
float32 arrays, one row per image) and a pure function ``to_image(values) -> (N, 28, 28)``
in [0, 1]. The render loop optimises the values, never the pixels directly, so the same loop
serves raw pixels, a 1/f Fourier spectrum and the latent code of a digit decoder.

- :func:`pixel`   -- one value per pixel, squashed into [0, 1] by a sigmoid (or clipped).
- :func:`fourier` -- a 2-D spectrum scaled by 1/f**decay: low frequencies move fastest, so
  the ascent paints strokes before it paints speckle (Olah et al. 2017, "Feature Visualization").
- :func:`latent`  -- the latent code z of a (conditional) VAE decoder: the dream never leaves
  the decoder's manifold of handwriting (the "generator prior" of Nguyen et al. 2016/2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._util import NeuroartError, tf

SIZE = 28
_EPS = 0.02  # starting images are kept inside (eps, 1 - eps) so the sigmoid can move them


def _logit(x):
    x = np.clip(np.asarray(x, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(x / (1 - x)).astype(np.float32)


@dataclass
class Param:
    """Initial values plus the function that turns them into images."""

    name: str
    init: list  # list of float32 ndarrays, first axis = batch
    to_image: object  # callable(list of tensors) -> (N, 28, 28) tensor in [0, 1]
    prior: object = None  # optional callable(list of tensors) -> (N,) log-prior added to the score
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.init[0].shape[0])


def _start_images(n, start, rng, noise, smooth=0.0):
    """(N, 28, 28) float32 starting images: `start` broadcast, plus seeded uniform noise."""
    if start is None:
        base = np.full((n, SIZE, SIZE), 0.5, np.float32)
        amp = max(noise, 0.0)
    else:
        base = np.asarray(start, dtype=np.float32)
        if base.shape == (SIZE, SIZE):
            base = np.broadcast_to(base, (n, SIZE, SIZE))
        if base.shape != (n, SIZE, SIZE):
            raise NeuroartError(f"start images must be (28, 28) or ({n}, 28, 28), got {base.shape}")
        amp = noise
    return base, _colored_noise(rng, n, smooth) * amp


def _colored_noise(rng, n, decay_power):
    """(n, 28, 28) seeded noise with a 1/f**decay spectrum, scaled to unit std per image.

    decay 0 is white noise (speckle); decay 1-2 gives smooth blobs, so samples start in
    different basins and end as different strokes rather than different speckle.
    """
    white = rng.standard_normal((n, SIZE, SIZE))
    if decay_power <= 0:
        return white.astype(np.float32)
    spec = np.fft.rfft2(white) * _freq_scale(SIZE, SIZE, decay_power)
    out = np.fft.irfft2(spec, s=(SIZE, SIZE))
    out = out - out.mean(axis=(1, 2), keepdims=True)
    out /= out.std(axis=(1, 2), keepdims=True) + 1e-8
    return out.astype(np.float32)


def pixel(
    n: int,
    *,
    start=None,
    seed: int = 0,
    noise: float = 0.5,
    smooth: float = 0.0,
    bound: str = "sigmoid",
    lowres: int = 1,
) -> Param:
    """One free value per pixel.

    ``bound="sigmoid"`` optimises logits of the pixels (always in (0, 1)); ``"clip"`` optimises
    the pixels themselves and clips them into [0, 1] (the classic projected ascent).
    ``noise`` is the amplitude of the seeded random start (in logit units for the sigmoid).
    ``lowres`` > 1 stores one value per ``lowres x lowres`` block, bilinearly upsampled before
    the sigmoid: smooth, stroke-wide shapes with sharp edges (lucid's ``lowres_tensor``).
    """
    rng = np.random.default_rng(seed)
    base, jitter = _start_images(n, start, rng, noise, smooth)
    t = tf()
    if bound == "sigmoid":
        init = _logit(base) + jitter
        if lowres > 1:
            if SIZE % lowres:
                raise NeuroartError(f"lowres must divide {SIZE}, got {lowres}")
            m = SIZE // lowres
            init = init.reshape(n, m, lowres, m, lowres).mean(axis=(2, 4)).astype(np.float32)

            def up(v):
                return t.sigmoid(t.image.resize(v[0][..., None], (SIZE, SIZE), method="bilinear")[..., 0])

            return Param("pixel", [init], up, info={"bound": bound, "lowres": lowres})
        return Param("pixel", [init], lambda v: t.sigmoid(v[0]), info={"bound": bound})
    if bound == "clip":
        init = np.clip(base + jitter * 0.25, 0, 1).astype(np.float32)
        return Param("pixel", [init], lambda v: t.clip_by_value(v[0], 0.0, 1.0), info={"bound": bound})
    raise NeuroartError(f"unknown pixel bound {bound!r} (use sigmoid or clip)")


def _freq_scale(h, w, decay_power):
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay_power
    return (scale / scale.max()).astype(np.float32)  # the lowest frequency moves at 1


def fourier(
    n: int,
    *,
    start=None,
    seed: int = 0,
    noise: float = 0.5,
    smooth: float = 0.0,
    decay_power: float = 1.0,
    gain: float = float(SIZE),
) -> Param:
    """A 1/f-scaled spectrum, inverse-FFT'd then squashed by a sigmoid into [0, 1].

    The spectrum is stored divided by ``1/f**decay_power``, so a gradient step on it moves low
    frequencies (strokes) far more than high ones (speckle) -- a preconditioner, not a filter:
    any image is still reachable. ``start`` images are encoded exactly.
    """
    rng = np.random.default_rng(seed)
    base, jitter = _start_images(n, start, rng, noise, smooth)
    scale = _freq_scale(SIZE, SIZE, decay_power) * gain
    spec = np.fft.rfft2(_logit(base) + jitter) / scale
    init = [spec.real.astype(np.float32), spec.imag.astype(np.float32)]
    t = tf()
    sc = t.constant(scale)

    def to_image(v):
        c = t.complex(v[0] * sc, v[1] * sc)
        return t.sigmoid(t.signal.irfft2d(c, fft_length=[SIZE, SIZE]))

    return Param("fourier", init, to_image, info={"decay_power": decay_power})


def latent(
    decoder,
    n: int,
    *,
    labels=None,
    latent_dim: int | None = None,
    seed: int = 0,
    prior_weight: float = 0.5,
    anchor_weight: float = 0.0,
    z_start=None,
) -> Param:
    """The latent code of a digit decoder: image = decoder(z [, one_hot(labels)]).

    ``decoder`` is a keras Model mapping (N, latent) -- plus (N, 10) one-hot for a conditional
    decoder (pass ``labels``) -- to (N, 28, 28) in [0, 1]. z starts as seeded N(0, 1) draws and
    its log-prior ``-prior_weight * |z|**2 / 2`` is added to the score so it stays typical;
    ``anchor_weight`` adds ``-anchor_weight * |z - z_start|**2 / 2``, a trust region that keeps
    each sample near its own random start (so samples of one digit do not collapse onto the
    decoder's single most-confident code).
    """
    t = tf()
    dim = latent_dim or int(decoder.inputs[0].shape[-1])
    rng = np.random.default_rng(seed)
    z0 = rng.standard_normal((n, dim)).astype(np.float32) if z_start is None else np.asarray(z_start, np.float32)
    conditional = len(decoder.inputs) > 1
    if conditional:
        if labels is None:
            raise NeuroartError("a conditional decoder needs the target digit of each image")
        onehot = t.constant(np.eye(10, dtype=np.float32)[np.asarray(labels, dtype=int)])

    def to_image(v):
        out = decoder([v[0], onehot], training=False) if conditional else decoder(v[0], training=False)
        return t.reshape(out, [-1, SIZE, SIZE])

    z_anchor = t.constant(z0)

    def prior(v):
        out = -0.5 * prior_weight * t.reduce_sum(t.square(v[0]), axis=1)
        if anchor_weight:
            out = out - 0.5 * anchor_weight * t.reduce_sum(t.square(v[0] - z_anchor), axis=1)
        return out

    return Param("latent", [z0], to_image, prior=prior, info={"conditional": conditional, "dim": dim})


PARAMS = ("pixel", "fourier", "latent")
