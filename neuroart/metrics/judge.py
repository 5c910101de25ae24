"""The judge and its feature space: agreement, penultimate-layer features, the Fréchet distance.

A judge is a bundled model name ("cnn", "mlp"), a path to a `.keras` classifier, or a Keras model
whose last layer is `Dense(10, activation="softmax")`. Loaded judges are cached by name/path.
"""

from __future__ import annotations

import os

import numpy as np

from .._util import NeuroartError, tf

_BATCH = 2000
_FEATURES: dict = {}


def keras():
    tf()
    import keras

    return keras


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
    from ..models import load_classifier

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
