"""Classify a user's own digit images (the article's predict step, on real files)."""

from __future__ import annotations

import os
from typing import Iterable

import numpy as np

from .data import load_digit_image
from .models import load_model
from .models.classifier import predict


def classify_images(images: np.ndarray, *, model="mlp", top: int = 1) -> list[list[tuple[int, float]]]:
    """For float images (N, 28, 28) in [0, 1]: the `top` likeliest digits with probabilities."""
    net = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    probs = predict(net, images)
    order = np.argsort(-probs, axis=1)[:, :top]
    return [[(int(d), round(float(p[d]), 4)) for d in row] for row, p in zip(order, probs)]


def classify_files(paths: Iterable[str | os.PathLike], *, model="mlp", top: int = 1):
    """Read every image first (so a bad file fails before any work), then classify them all."""
    paths = [str(p) for p in paths]
    images = np.stack([load_digit_image(p) for p in paths])
    return list(zip(paths, classify_images(images, model=model, top=top)))
