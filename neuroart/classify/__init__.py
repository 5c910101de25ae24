"""Reading digits: the classifiers, their training, and reading a user's own images.

- `model`: architectures (the article's ``mlp``, the ``cnn`` judge);
- `train`: training recipes, `train_classifier`, `evaluate`;
- `read`: `predict`, `classify_images`, `classify_files`.

Importing this package loads no TensorFlow; models load when first used.
"""

from __future__ import annotations

from .read import classify_files, classify_images, predict
from .train import evaluate, train_classifier

__all__ = ["classify_files", "classify_images", "evaluate", "predict", "train_classifier"]
