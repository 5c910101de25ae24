"""Scores for generated (or dreamed) digits, judged by an independent classifier.

All functions take digit images as float arrays (N, 28, 28) in [0, 1].

- `judge_agreement(images, labels, judge="cnn")`: the share of images the judge labels as requested.
- `judge_features(images, judge="cnn")`: the judge's penultimate-layer features (N, D).
- `frechet_distance(images, reference_images, judge="cnn")`: the Fréchet distance between Gaussians
  fitted to the judge features of the two sets (FID, with the judge in place of Inception).
- `precision_recall(images, reference_images)`: improved precision and recall (k-NN balls in the
  judge's features, Kynkäänniemi et al. 2019).
- `detector_accuracy(images, real_images)`: a classifier two-sample test on pixels (a fresh small
  CNN, held-out halves; 0.5 = indistinguishable); `zero_share(images)`: pixels exactly 0 once saved.
- `RealReference(real_images, real_labels, per_digit)`: all of these against real digits at one n,
  beside their real-vs-real floors.
- `novelty(images, train_images)`: mean Euclidean distance from each image to its nearest training image.
- `diversity(images, labels)`: mean pairwise Euclidean pixel distance within each class.
- `deletion_auc(model, images, maps, targets)`: faithfulness of attribution maps (lower is better).
- `style_consistency(sources, restyled_sets)`: slant and thickness correlation of restyled digits.

A judge is a bundled model name ("cnn", "mlp"), a path to a `.keras` classifier, or a Keras model
whose last layer is `Dense(10, activation="softmax")`. Loaded judges are cached by name/path.

The modules: `judge` (the judge, its features, the Fréchet distance), `pixels` (novelty, diversity,
deletion, style), `realness` (precision and recall, the detector, `RealReference`).
"""

from __future__ import annotations

from .judge import (
    feature_stats,
    frechet_distance,
    frechet_from_stats,
    judge_agreement,
    judge_features,
    judge_predict,
    load_judge,
)
from .pixels import (
    deletion_auc,
    deletion_curves,
    diversity,
    nearest_distances,
    novelty,
    slant,
    style_consistency,
    thickness,
)
from .realness import (
    K_NEIGHBOURS,
    RealReference,
    as_saved,
    detector_accuracy,
    detector_view,
    knn_radii,
    precision_recall,
    precision_recall_features,
    zero_share,
)

__all__ = [
    "judge_agreement",
    "judge_predict",
    "judge_features",
    "load_judge",
    "frechet_distance",
    "feature_stats",
    "frechet_from_stats",
    "RealReference",
    "precision_recall",
    "precision_recall_features",
    "knn_radii",
    "K_NEIGHBOURS",
    "detector_accuracy",
    "as_saved",
    "detector_view",
    "zero_share",
    "novelty",
    "nearest_distances",
    "diversity",
    "deletion_auc",
    "deletion_curves",
    "slant",
    "thickness",
    "style_consistency",
]
