"""Write in anyone's hand: one digit's handwriting style carried over to other digits.

The class-conditional VAE separates *what* is written (the label it is given) from *how* (the
latent code z). `restyle` encodes a person's digit with its label -- given, or read by the default
reader -- and decodes that style under other labels: "your 3, written as 0-9" (Kingma et al.
2014, Fig. 1).

The style travels in the prior's *whitened* coordinates: each class has its own fitted Gaussian
``N(m_c, L_c L_c^T)`` over the codes of its training digits, so the source code z is whitened
under its own class, ``w = L_s^-1 (z - m_s)``, and re-coloured under the target's,
``z_t = m_t + L_t w``. A slant that is unusual for a 1 becomes the same amount of unusual for
an 8. Styles far out in the tails (radius beyond the `truncation` quantile of the prior) are
pulled in to that radius: the far tails are where the decoder's digits stop being readable.

- `restyle(image, digits)`: the image's style under each of `digits` (a `Restyled`);
- `mix_styles(a, b, digits)`: rows of digits whose style goes from `a`'s to `b`'s, and frames;
- `style_walk(image, digits)`: frames of a loop through style space that starts and ends at the
  image's own style (a GIF);
- `similar(image, n)`: "more like this": new samples of the image's digit near its style.

Nothing here is random except `style_walk` and `similar` (seeded): same input, same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .._util import NeuroartError, check_digits
from ..display import Displayed
from .config import DEFAULT_MODEL, SHARPNESS, TRUNCATION


@dataclass
class Restyled(Displayed):
    """A style carried over: `images` (M, 28, 28) with their `labels` (M,), from `source`."""

    images: np.ndarray  # (M, 28, 28) float32 in [0, 1], in the order of `labels`
    labels: np.ndarray  # (M,) int64
    source: np.ndarray  # (28, 28) the source digit as the encoder saw it
    source_label: int  # the label it was encoded with
    model: str = DEFAULT_MODEL
    label_given: bool = True  # False when the reader named the source's digit
    rows: list[str] | None = None  # row names when `images` are several rows (mix_styles)
    other: np.ndarray | None = None  # mix_styles: the second source
    other_label: int | None = None
    frames: list = field(default_factory=list)  # GIF frames, each (M', 28, 28)
    options: dict = field(default_factory=dict)

    def sheet(self):
        """A `neuroart.outputs.Sheet`: the source left of its restyled digits (one row), or the
        mixing rows (first column: the two sources at the ends)."""
        from ..outputs import Sheet

        blank = np.zeros((28, 28), np.float32)
        if self.rows is None:
            cells = np.concatenate([self.source[None], self.images])
            captions = [f"{self.source_label} (yours)", *[str(int(d)) for d in self.labels]]
            ncols, row_labels = len(cells), None
            message = f"restyled {_a(self.source_label)} as {' '.join(str(int(d)) for d in self.labels)}"
        else:
            r = len(self.rows)
            per = len(self.images) // r
            grid = self.images.reshape(r, per, 28, 28)
            firsts = [self.source] + [blank] * (r - 2) + [self.other]
            cells = np.concatenate([np.concatenate([f[None], row]) for f, row in zip(firsts, grid, strict=True)])
            # the first column shows the two sources at the ends (row names are in `rows`, not drawn,
            # so that the GIF's one-row frames share the still's layout)
            captions, ncols, row_labels = None, per + 1, None
            message = f"mixed the styles of {_a(self.source_label)} and {_a(self.other_label)} over {r} rows"
        recipe = {"model": self.model, "source_label": int(self.source_label), **self.options}
        try:
            from ..models import model_hash

            recipe["model_sha256"] = model_hash(self.model)
        except (NeuroartError, OSError):
            pass
        arrays = {"images": self.images.astype(np.float32), "labels": self.labels.astype(np.int64),
                  "source": self.source.astype(np.float32)}
        if self.other is not None:
            arrays["other"] = self.other.astype(np.float32)
        return Sheet(images=cells.astype(np.float32), ncols=ncols, captions=captions, row_labels=row_labels,
                     frames=list(self.frames), arrays=arrays, recipe=recipe, message=message,
                     gif_duration_ms=90, gif_min_scale=3,
                     gif_bounce=self.rows is not None, composite=True)


def _a(d) -> str:
    return f"an {d}" if int(d) == 8 else f"a {d}"


# --------------------------------------------------------------------------- pieces


def _generator(model):
    from .model import Generator, load_generator

    g = model if isinstance(model, Generator) else load_generator(model)
    if not g.conditional:
        raise NeuroartError(f"restyling needs a class-conditional generator (cvae), not a {g.kind}")
    return g


def _name(model) -> str:
    return str(model) if isinstance(model, (str, os.PathLike)) else getattr(model, "name", "cvae")


def _digits(digits) -> np.ndarray:
    if digits is None:
        digits = range(10)
    if isinstance(digits, (int, np.integer, str)):
        digits = [digits]
    out = check_digits(list(digits))
    if not out:
        raise NeuroartError("digits: no digits to write")
    if len(out) > 100:
        raise NeuroartError(f"digits: at most 100, got {len(out)}")
    return np.asarray(out, np.int64)


def load_source(image, *, seed: int = 0) -> np.ndarray:
    """A source digit: a (28, 28) array in [0, 1], an image file, or ``digit:D`` (a real MNIST
    test digit of class D, chosen by `seed`). Returns float32 (28, 28)."""
    if isinstance(image, np.ndarray) or (not isinstance(image, (str, os.PathLike)) and hasattr(image, "shape")):
        x = np.asarray(image, np.float32)
        if x.shape != (28, 28):
            raise NeuroartError(f"image must be a (28, 28) array, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise NeuroartError("image has NaN or infinite values")
        if x.max() <= 0:
            raise NeuroartError("image is blank: no ink to read")
        return np.clip(x, 0.0, 1.0)
    from ..data import load_images

    return load_images([image], seed=seed)[0]


def read_label(image, label=None) -> tuple[int, bool]:
    """The digit to encode `image` (28, 28) with: `label` when given, else the default reader's
    reading. Returns ``(label, given)``."""
    if label is not None:
        return check_digits([label])[0], True
    from ..classify.read import DEFAULT_MODEL as READER
    from ..classify.read import predict
    from ..models import load_model

    return int(predict(load_model(READER), image[None]).argmax()), False


def _check_truncation(truncation) -> float:
    q = float(truncation)
    if not np.isfinite(q) or not 0.05 <= q <= 1.0:
        raise NeuroartError(f"truncation must be a quantile between 0.05 and 1, got {truncation}")
    return q


def style_code(g, image: np.ndarray, label: int) -> np.ndarray:
    """The whitened style code w (latent,) of `image` under its class's prior Gaussian."""
    z = g.encode(image[None], [label])[0].astype(np.float64)
    m, L = g.prior_gaussian(label)
    return np.linalg.solve(L, z - m)


def decode_styles(g, w, labels, *, truncation: float = TRUNCATION, sharpness: float = SHARPNESS) -> np.ndarray:
    """Whitened style codes w (N, latent) drawn as `labels` (N,): ``z = m_t + L_t w``, the radius
    of w capped at the `truncation` quantile of the prior's radius."""
    from .model import chi_quantile

    w = np.atleast_2d(np.asarray(w, np.float64))
    labels = np.asarray(labels, np.int64).reshape(-1)
    q = _check_truncation(truncation)
    if q < 1.0:
        r_max = chi_quantile(q, g.latent_dim)
        r = np.linalg.norm(w, axis=1, keepdims=True)
        w = w * np.minimum(1.0, r_max / np.maximum(r, 1e-12))
    m, L, _ = (a.astype(np.float64) for a in g._prior)
    z = m[labels] + np.einsum("nij,nj->ni", L[labels], w)
    return g.decode(z.astype(np.float32), labels, sharpness=sharpness)


def _source(image, label, seed):
    x = load_source(image, seed=seed)
    y, given = read_label(x, label)
    return x, y, given


# --------------------------------------------------------------------------- the functions


def restyle(image, digits=range(10), *, label=None, model=DEFAULT_MODEL, seed: int = 0,
            sharpness: float = SHARPNESS, truncation: float = TRUNCATION, frames: int = 0,
            spread: float = 1.2) -> Restyled:
    """`image`'s handwriting style written as each of `digits` (all ten by default).

    `image`: an image file, a (28, 28) array in [0, 1], or ``digit:D`` (a real test digit, by
    `seed`). `label`: the digit it shows (None = read by the default reader). `model`: a cvae
    (bundled name or ``.keras`` path). `sharpness`: crisper ink (1 = the decoder's raw pixels);
    `truncation`: styles beyond this quantile of the prior's radius are pulled in (1 = none).
    `frames` > 0 adds a style walk (`style_walk`, radius `spread`) as the result's GIF frames.
    Returns a `Restyled` with ``.images`` (len(digits), 28, 28) in the order of `digits`.
    """
    g = _generator(model)
    ds = _digits(digits)
    x, y, given = _source(image, label, seed)
    w = style_code(g, x, y)
    images = decode_styles(g, np.repeat(w[None], len(ds), 0), ds, truncation=truncation, sharpness=sharpness)
    out = Restyled(images=images, labels=ds, source=x, source_label=y, model=_name(model), label_given=given,
                   options={"sharpness": float(sharpness), "truncation": float(truncation), "seed": int(seed)})
    if frames:
        walk = _walk(g, w, ds, frames=frames, spread=spread, seed=seed, truncation=truncation, sharpness=sharpness)
        out.frames = [np.concatenate([x[None], f]) for f in walk]  # laid out like the still: source first
    return out


def mix_styles(a, b, digits=range(10), *, rows: int = 5, label_a=None, label_b=None, model=DEFAULT_MODEL,
               seed: int = 0, sharpness: float = SHARPNESS, truncation: float = TRUNCATION,
               frames: int = 24) -> Restyled:
    """Digits written in a mix of two hands: `rows` rows from `a`'s style (top) to `b`'s (bottom).

    `a`, `b`: as the `image` of `restyle`; `label_a`, `label_b` their digits (None = read). The
    whitened style codes are interpolated linearly. `frames` adds a GIF of the mix moving from
    `a`'s style to `b`'s (each frame all of `digits`). Returns a `Restyled` whose ``.images``
    are rows x len(digits), with ``.rows`` naming the rows.
    """
    g = _generator(model)
    ds = _digits(digits)
    rows = int(rows)
    if not 2 <= rows <= 20:
        raise NeuroartError(f"rows must be between 2 and 20, got {rows}")
    xa, ya, _ = _source(a, label_a, seed)
    xb, yb, _ = _source(b, label_b, seed + 1)
    wa, wb = style_code(g, xa, ya), style_code(g, xb, yb)
    ts = np.linspace(0.0, 1.0, rows)
    ws = (1 - ts)[:, None] * wa + ts[:, None] * wb
    labels = np.tile(ds, rows)
    images = decode_styles(g, np.repeat(ws, len(ds), 0), labels, truncation=truncation, sharpness=sharpness)
    names = ["A"] + [f"{t:.0%}" for t in ts[1:-1]] + ["B"]
    snaps = []
    frames = int(frames)
    if frames:
        if not 2 <= frames <= 500:
            raise NeuroartError(f"frames must be between 2 and 500, got {frames}")
        tf_ = np.linspace(0.0, 1.0, frames)
        wf = (1 - tf_)[:, None] * wa + tf_[:, None] * wb
        flat = decode_styles(g, np.repeat(wf, len(ds), 0), np.tile(ds, frames), truncation=truncation,
                             sharpness=sharpness)
        # laid out like the still's rows: the sources cross-fading in the first cell, then the digits
        snaps = [np.concatenate([((1 - t) * xa + t * xb)[None], f])
                 for t, f in zip(tf_, flat.reshape(frames, len(ds), 28, 28), strict=True)]
    return Restyled(images=images, labels=labels, source=xa, source_label=ya, model=_name(model), rows=names,
                    other=xb, other_label=yb, frames=snaps,
                    options={"sharpness": float(sharpness), "truncation": float(truncation), "rows": rows,
                             "seed": int(seed)})


def _walk(g, w0, ds, *, frames, spread, seed, truncation, sharpness):
    frames = int(frames)
    if not 2 <= frames <= 500:
        raise NeuroartError(f"frames must be between 2 and 500, got {frames}")
    spread = float(spread)
    if not np.isfinite(spread) or not 0 < spread <= 5:
        raise NeuroartError(f"spread must be between 0 and 5, got {spread}")
    rng = np.random.default_rng([int(seed), 0x77616C6B])
    u, _ = np.linalg.qr(rng.standard_normal((len(w0), 2)))  # two random orthonormal directions
    theta = 2 * np.pi * np.arange(frames) / frames
    # a circle through w0: at theta = 0 it is the source's own style
    ws = w0[None] + spread * ((np.cos(theta) - 1)[:, None] * u[:, 0] + np.sin(theta)[:, None] * u[:, 1])
    flat = decode_styles(g, np.repeat(ws, len(ds), 0), np.tile(ds, frames), truncation=truncation,
                         sharpness=sharpness)
    return list(flat.reshape(frames, len(ds), 28, 28))


def style_walk(image, digits=range(10), *, frames: int = 24, spread: float = 1.2, label=None,
               model=DEFAULT_MODEL, seed: int = 0, sharpness: float = SHARPNESS,
               truncation: float = TRUNCATION) -> list[np.ndarray]:
    """A loop through style space that starts and ends at `image`'s style: `frames` frames, each
    all of `digits` (len(digits), 28, 28). The loop is a circle of radius `spread` (in prior
    standard deviations) in a random plane (by `seed`) through the source's style code."""
    g = _generator(model)
    ds = _digits(digits)
    x, y, _ = _source(image, label, seed)
    return _walk(g, style_code(g, x, y), ds, frames=frames, spread=spread, seed=seed, truncation=truncation,
                 sharpness=sharpness)


def similar(image, n: int = 8, *, spread: float = 0.7, seed: int = 0, label=None, model=DEFAULT_MODEL,
            sharpness: float = SHARPNESS, truncation: float = TRUNCATION) -> np.ndarray:
    """"More like this": `n` new digits of `image`'s class near its style, (n, 28, 28).

    Style codes are drawn around the image's own (whitened) code with standard deviation `spread`
    (in prior standard deviations: 0 = the image's style itself, 1 = as varied as the class).
    """
    g = _generator(model)
    n = int(n)
    if not 1 <= n <= 1000:
        raise NeuroartError(f"n must be between 1 and 1000, got {n}")
    spread = float(spread)
    if not np.isfinite(spread) or not 0 <= spread <= 5:
        raise NeuroartError(f"spread must be between 0 and 5, got {spread}")
    x, y, _ = _source(image, label, seed)
    w0 = style_code(g, x, y)
    eps = np.random.default_rng([int(seed), 0x73696D]).standard_normal((n, len(w0)))
    return decode_styles(g, w0[None] + spread * eps, np.full(n, y), truncation=truncation, sharpness=sharpness)


def restyle_sheet(image, digits=range(10), **options):
    """`restyle` laid out as a `neuroart.outputs.Sheet` (every pipeline's ``*_sheet`` function)."""
    return restyle(image, digits, **options).sheet()


def mix_styles_sheet(a, b, digits=range(10), **options):
    """`mix_styles` laid out as a `neuroart.outputs.Sheet`."""
    return mix_styles(a, b, digits, **options).sheet()
