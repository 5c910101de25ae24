"""Classify a user's own digit images (the article's predict step, on real files)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from .._util import NeuroartError
from ..data import load_digit_image
from ..models import load_classifier
from ..validate import integer

#: The model that reads a person's digits unless told otherwise (classify, explain, the studio).
DEFAULT_MODEL = "reader"


def predict(model, images: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """Softmax probabilities (N, 10) for float images (N, 28, 28) in [0, 1]."""
    images = np.asarray(images, np.float32)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise NeuroartError(f"expected images of shape (N, 28, 28), got {images.shape}")
    call = _compiled(model) if hasattr(model, "layers") else (lambda x: model(x, training=False))
    out = [np.asarray(call(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


_COMPILED: dict = {}


def _compiled(model):
    """A Keras model's forward pass as one `tf.function`, cached per model.

    Keras' eager call costs ~20 ms of Python per call for a small convnet, whatever the batch;
    compiled, one digit costs ~2 ms (the studio reads a drawing several times a second).
    """
    hit = _COMPILED.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    from .._util import tf

    t = tf()
    fn = t.function(lambda x: model(x, training=False), input_signature=[t.TensorSpec([None, 28, 28], t.float32)])
    _COMPILED[id(model)] = (model, fn)
    if len(_COMPILED) > 16:
        _COMPILED.pop(next(iter(_COMPILED)))
    return fn


def classify_images(images: np.ndarray, *, model=DEFAULT_MODEL, top: int = 1) -> list[list[tuple[int, float]]]:
    """For float images (N, 28, 28) in [0, 1]: the `top` likeliest digits with probabilities."""
    top = integer("top", top, low=1, high=10)
    net = load_classifier(model)  # a name, a path or a Keras model; contract checked
    probs = predict(net, images)
    order = np.argsort(-probs, axis=1)[:, :top]
    return [[(int(d), round(float(p[d]), 4)) for d in row] for row, p in zip(order, probs, strict=True)]


def classify_files(paths: Iterable[str | os.PathLike], *, model=DEFAULT_MODEL, top: int = 1):
    """Read every image first (so a bad file fails before any work), then classify them all."""
    paths = [str(p) for p in paths]
    images = np.stack([load_digit_image(p) for p in paths])
    return list(zip(paths, classify_images(images, model=model, top=top), strict=True))
