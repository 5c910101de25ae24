"""Scores in pixel space: novelty, diversity, attribution faithfulness (deletion), handwriting style."""

from __future__ import annotations

import numpy as np

from .._util import NeuroartError
from .judge import _as_digits, _as_labels, keras, load_judge

# --------------------------------------------------------------------------- novelty / diversity


def nearest_distances(images, train_images, *, batch: int = 1000, exclude_self: bool = False) -> np.ndarray:
    """Euclidean pixel distance from each image to its nearest neighbour in `train_images`, (N,).

    Computed with matrix products (|a|^2 + |b|^2 - 2 a.b) in blocks, so 10k x 60k takes seconds.
    With `exclude_self`, exact zero-distance matches at the same index are skipped (images is
    train_images): the nearest *other* image.
    """
    x = _as_digits(images).reshape(-1, 784)
    t = _as_digits(train_images, "train_images").reshape(-1, 784)
    tn = np.einsum("ij,ij->i", t, t)
    out = np.empty(len(x), dtype=np.float64)
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        d2 = (np.einsum("ij,ij->i", xb, xb)[:, None] + tn[None, :]) - 2.0 * (xb @ t.T)
        if exclude_self:
            idx = np.arange(i, i + len(xb))
            d2[np.arange(len(xb)), idx] = np.inf
        nearest = d2.argmin(axis=1)
        # exact distance to the chosen neighbour (the expansion above loses ~1e-3 to round-off)
        diff = xb.astype(np.float64) - t[nearest].astype(np.float64)
        out[i : i + batch] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def novelty(images, train_images, *, batch: int = 1000) -> float:
    """Mean distance from each image to its nearest training image (pixel L2, images in [0, 1]).

    Copies of training images score 0; compare with the same score for real test digits.
    """
    return float(nearest_distances(images, train_images, batch=batch).mean())


def diversity(images, labels, *, per_class: bool = False, max_per_class: int = 1000, seed: int = 0):
    """Mean pairwise Euclidean pixel distance between images of the same class.

    Returns the mean over classes present (each class with at least two images), or with
    `per_class=True` a dict {digit: mean distance}. A class collapsed to near-identical samples
    scores near 0. Classes with more than `max_per_class` images are subsampled (seeded).
    """
    x = _as_digits(images).reshape(-1, 784).astype(np.float64)
    y = _as_labels(labels, len(x))
    rng = np.random.default_rng(seed)
    scores = {}
    for c in np.unique(y):
        xc = x[y == c]
        if len(xc) < 2:
            continue
        if len(xc) > max_per_class:
            xc = xc[rng.choice(len(xc), max_per_class, replace=False)]
        n = np.einsum("ij,ij->i", xc, xc)
        d2 = n[:, None] + n[None, :] - 2.0 * (xc @ xc.T)
        iu = np.triu_indices(len(xc), k=1)
        scores[int(c)] = float(np.sqrt(np.clip(d2[iu], 0, None)).mean())
    if not scores:
        raise NeuroartError("diversity needs at least two images of one class")
    if per_class:
        return scores
    return float(np.mean(list(scores.values())))


# --------------------------------------------------------------------------- attribution faithfulness


def deletion_curves(model, images, maps, targets, *, steps: int = 28, batch: int = 4096) -> np.ndarray:
    """The deletion curves (Petsiuk et al. 2018, RISE): (N, steps + 1) target-class probabilities.

    Pixels are set to 0 (no ink) in order of decreasing attribution, ``784 / steps`` more at each
    step (ties kept in pixel order), and the model's probability of the target class is read
    after each step: point 0 is the untouched digit, the last point the black image.
    """
    x = _as_digits(images)
    m = _as_digits(maps, "maps")
    if len(m) != len(x):
        raise NeuroartError(f"{len(m)} maps for {len(x)} images")
    y = _as_labels(targets, len(x))
    steps = int(steps)
    if not 1 <= steps <= 784:
        raise NeuroartError(f"steps must be between 1 and 784, got {steps}")
    net = load_judge(model)
    order = np.argsort(-m.reshape(len(m), -1), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(784)[None].repeat(len(m), 0), axis=1)
    cuts = np.linspace(0, 784, steps + 1).round().astype(int)  # pixels deleted after each step
    flat = x.reshape(len(x), -1)
    k = keras()
    out = np.empty((len(x), steps + 1), np.float32)
    per = max(1, batch // (steps + 1))
    for i in range(0, len(x), per):
        # image i at step s keeps the pixels whose rank is >= cuts[s]
        keep = rank[i : i + per, None, :] >= cuts[None, :, None]  # (n, S+1, 784)
        seq = (flat[i : i + per, None, :] * keep).reshape(-1, 28, 28)
        probs = np.asarray(net(k.ops.convert_to_tensor(seq), training=False), np.float32)
        probs = probs.reshape(-1, steps + 1, 10)
        out[i : i + per] = probs[np.arange(len(probs)), :, y[i : i + per]]
    return out


def deletion_auc(model, images, maps, targets, *, steps: int = 28, curves: bool = False):
    """Mean area under the deletion curve (`deletion_curves`), in [0, 1]: lower = more faithful.

    A faithful map deletes the pixels that matter first, so the target's probability falls at
    once; a random order lets it fall slowly. With `curves`, returns ``(auc, curves (N, steps+1))``.
    """
    c = deletion_curves(model, images, maps, targets, steps=steps)
    area = ((c[:, 1:] + c[:, :-1]) / 2).mean(axis=1)  # trapezoids over x in [0, 1]
    auc = float(area.mean())
    return (auc, c) if curves else auc


# --------------------------------------------------------------------------- handwriting style


def slant(images) -> np.ndarray:
    """Each digit's slant from its second moments: the shear cov(x, y) / var(y), (N,).

    Positive leans right (the top of the digit further right than the bottom); an upright digit is 0.
    """
    x = _as_digits(images).astype(np.float64)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    w = x.sum(axis=(1, 2)) + 1e-9
    my = (x * yy).sum(axis=(1, 2)) / w
    mx = (x * xx).sum(axis=(1, 2)) / w
    dy = yy[None] - my[:, None, None]
    dx = xx[None] - mx[:, None, None]
    cov = (x * dx * dy).sum(axis=(1, 2)) / w
    var = (x * dy * dy).sum(axis=(1, 2)) / w + 1e-9
    return -cov / var  # image rows grow downwards: a right lean has x falling as y grows


def thickness(images) -> np.ndarray:
    """Each digit's stroke thickness in pixels: ink per stroke length, (N,).

    A stroke of length L and width t has ink area L t and outline 2 L; the outline is measured as
    the total variation of the image (the sum of |gradient|, exact for crisp ink), so
    ``thickness = 2 * ink / outline``.
    """
    x = _as_digits(images).astype(np.float64)
    ink = x.sum(axis=(1, 2))
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    gy = np.diff(p, axis=1)[:, :, 1:-1]
    gx = np.diff(p, axis=2)[:, 1:-1, :]
    outline = np.abs(gy).sum(axis=(1, 2)) + np.abs(gx).sum(axis=(1, 2))
    return 2.0 * ink / (outline + 1e-9)


def style_consistency(sources, restyled_sets) -> dict[str, float]:
    """How well restyled digits keep their source's hand: ``{"slant": r, "thickness": r}``.

    `sources` (N, 28, 28); `restyled_sets` one batch (M, 28, 28) per source (a (N, M, 28, 28)
    array, or a list). For each measure, the Pearson correlation over the N sources between the
    source's value and the mean value of its restyled digits (every source restyled to the same
    digits, so the digits' own shapes cancel). Random samples score about 0; a faithful restyle high.
    """
    src = _as_digits(sources, "sources")
    sets = [(_as_digits(s, "restyled_sets")) for s in restyled_sets]
    if len(sets) != len(src):
        raise NeuroartError(f"{len(sets)} restyled sets for {len(src)} sources")
    if len(src) < 3:
        raise NeuroartError("style_consistency needs at least 3 sources for a correlation")
    out = {}
    for name, fn in (("slant", slant), ("thickness", thickness)):
        a = fn(src)
        b = np.array([fn(s).mean() for s in sets])
        out[name] = float(np.corrcoef(a, b)[0, 1])
    return out
