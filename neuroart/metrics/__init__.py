"""Scores for generated (or dreamed) digits, judged by an independent classifier.

All functions take digit images as float arrays (N, 28, 28) in [0, 1].

- `judge_agreement(images, labels, judge="cnn")`: the share of images the judge labels as requested.
- `judge_features(images, judge="cnn")`: the judge's penultimate-layer features (N, D).
- `frechet_distance(images, reference_images, judge="cnn")`: the Fréchet distance between Gaussians
  fitted to the judge features of the two sets (FID, with the judge in place of Inception).
- `novelty(images, train_images)`: mean Euclidean distance from each image to its nearest training image.
- `diversity(images, labels)`: mean pairwise Euclidean pixel distance within each class.
- `deletion_auc(model, images, maps, targets)`: faithfulness of attribution maps (lower is better).
- `style_consistency(sources, restyled_sets)`: slant and thickness correlation of restyled digits.

A judge is a bundled model name ("cnn", "mlp"), a path to a `.keras` classifier, or a Keras model
whose last layer is `Dense(10, activation="softmax")`. Loaded judges are cached by name/path.
"""

from __future__ import annotations

import os

import numpy as np

from ._util import NeuroartError, tf


def keras():
    tf()
    import keras

    return keras

__all__ = [
    "judge_agreement",
    "judge_predict",
    "judge_features",
    "frechet_distance",
    "feature_stats",
    "frechet_from_stats",
    "RealReference",
    "novelty",
    "nearest_distances",
    "diversity",
    "deletion_auc",
    "deletion_curves",
    "slant",
    "thickness",
    "style_consistency",
]

_BATCH = 2000
_FEATURES: dict = {}


# --------------------------------------------------------------------------- inputs


def _as_digits(images, what: str = "images") -> np.ndarray:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2 and x.shape == (28, 28):
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise NeuroartError(f"{what} must have shape (N, 28, 28), got {tuple(np.shape(images))}")
    if len(x) == 0:
        raise NeuroartError(f"{what} is empty")
    return x


def _as_labels(labels, n: int) -> np.ndarray:
    y = np.asarray(labels).reshape(-1)
    if y.size == 1 and n > 1:
        y = np.full(n, int(y[0]))
    if y.shape != (n,):
        raise NeuroartError(f"labels must have shape ({n},), got {tuple(np.shape(labels))}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() > 9:
        raise NeuroartError("labels must be digits 0-9")
    return y


def load_judge(judge="cnn"):
    """Resolve a judge (bundled name, .keras path, or Keras model) to a Keras model (cached)."""
    if not isinstance(judge, (str, os.PathLike)):
        if not hasattr(judge, "layers"):
            raise NeuroartError(f"a judge must be a model name, a .keras path or a Keras model, got {judge!r}")
    from .models import load_classifier

    return load_classifier(judge)  # cached, safe mode, contract checked, one-line errors


def _batched(fn, x: np.ndarray, batch: int = _BATCH) -> np.ndarray:
    outs = [np.asarray(fn(x[i : i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(outs, axis=0)


# --------------------------------------------------------------------------- judge


def judge_predict(images, judge="cnn") -> np.ndarray:
    """The judge's class probabilities, (N, 10) float32."""
    x = _as_digits(images)
    model = load_judge(judge)
    t = keras()
    return _batched(lambda b: model(t.ops.convert_to_tensor(b), training=False), x).astype(np.float32)


def judge_agreement(images, labels, judge="cnn") -> float:
    """The share of `images` that `judge` labels as the requested `labels` (one int or (N,))."""
    x = _as_digits(images)
    y = _as_labels(labels, len(x))
    pred = judge_predict(x, judge).argmax(axis=1)
    return float(np.mean(pred == y))


def _feature_fn(model):
    key = id(model)
    hit = _FEATURES.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    k = keras()
    layers = model.layers
    if not layers or not isinstance(layers[-1], k.layers.Dense):
        raise NeuroartError("the judge must end in a Dense layer (its input is the feature space)")
    if isinstance(model, k.Sequential):
        body = list(layers[:-1])

        def fn(b):
            h = k.ops.convert_to_tensor(b)
            for layer in body:
                h = layer(h, training=False)
            return h

    else:
        sub = k.Model(model.inputs, layers[-1].input)

        def fn(b):
            return sub(k.ops.convert_to_tensor(b), training=False)

    _FEATURES[key] = (model, fn)
    return fn


def judge_features(images, judge="cnn") -> np.ndarray:
    """The judge's penultimate-layer activations (the input of its last Dense layer), (N, D) float64."""
    x = _as_digits(images)
    fn = _feature_fn(load_judge(judge))
    f = _batched(fn, x)
    return f.reshape(len(x), -1).astype(np.float64)


# --------------------------------------------------------------------------- Fréchet distance


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features (N, D)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise NeuroartError("need at least two feature vectors for a covariance")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_from_stats(mu1, cov1, mu2, cov2) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^1/2).

    Tr((C1 C2)^1/2) equals Tr((S C2 S)^1/2) with S = C1^1/2: the eigenvalues of C1 C2 and of the
    symmetric PSD product S C2 S are the same, so two symmetric eigendecompositions suffice
    (no scipy.linalg.sqrtm and no complex round-off).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    s = _sqrt_psd(cov1)
    m = s @ cov2 @ s
    w = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(w, 0, None)).sum())
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)
    return max(d, 0.0)


def frechet_distance(images, reference_images, judge="cnn") -> float:
    """Fréchet distance between `images` and `reference_images` in the judge's feature space."""
    a = judge_features(images, judge)
    b = judge_features(reference_images, judge)
    return frechet_from_stats(*feature_stats(a), *feature_stats(b))


# --------------------------------------------------------------------------- novelty / diversity


class RealReference:
    """Real digits to score generated ones against, at n = 10·per_digit (per_digit of each class):
    two disjoint real sets with the same class mix, their FID (the real-vs-real floor at that n)
    and their within-class diversity. Made once, it scores any number of samplers (`score`).

    The two sets are drawn at random (`seed`) from all of `real_images`, not taken from the
    front: MNIST's test set holds two populations of writers (its first 5,000 digits are by
    Census employees, its last 5,000 by students), so the first digits of each class are a
    cleaner hand than the training set's mix, and real training digits scored 2.95x a floor
    taken from the front against 1.49x one drawn at random (n = 2,000)."""

    def __init__(self, real_images, real_labels, per_digit: int, *, judge="cnn", seed: int = 0):
        x, y = _as_digits(real_images, "real_images"), _as_labels(real_labels, len(real_images))
        rng = np.random.default_rng(seed)
        picks = [rng.permutation(np.flatnonzero(y == d)) for d in range(10)]
        if min(len(p) for p in picks) < 2 * per_digit:
            raise NeuroartError(f"need {2 * per_digit} real digits of every class for per_digit={per_digit}")
        self.labels = np.repeat(np.arange(10), per_digit)
        self.a = x[np.concatenate([p[:per_digit] for p in picks])]
        self.b = x[np.concatenate([p[per_digit : 2 * per_digit] for p in picks])]
        self.judge = judge
        self.floor = frechet_distance(self.a, self.b, judge=judge)
        self.diversity = diversity(self.a, self.labels)

    def score(self, images, labels=None) -> dict:
        """Judge agreement, FID and FID / floor, diversity / real for images of `labels` (default:
        the reference's own class mix, per_digit of each digit in order)."""
        labels = self.labels if labels is None else labels
        fid = frechet_distance(images, self.b, judge=self.judge)
        return {"judge_agreement": judge_agreement(images, labels, judge=self.judge), "fid": fid,
                "fid_over_floor": fid / self.floor, "diversity_over_real": diversity(images, labels) / self.diversity}


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
