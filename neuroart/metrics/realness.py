"""Realness beyond FID: how close generated digits come to real ones, in three views.

- `precision_recall` (Kynkäänniemi et al. 2019, "Improved precision and recall"): k-NN balls in
  the judge's feature space. Precision is the share of generated digits inside some real digit's
  ball (are they realistic?), recall the share of real digits inside some generated digit's ball
  (is all of real handwriting covered?). A model that draws every 3 the same way keeps precision
  and loses recall; FID mixes the two into one number.
- `detector_accuracy` (Lopez-Paz & Oquab 2017, a classifier two-sample test): a fresh small CNN
  trained on pixels to tell generated digits from real ones, scored on held-out halves: 50% means
  it cannot tell them apart. It sees what a classifier's features do not, such as background haze
  (it sees saved bytes on a log scale, `detector_view`, as a person zooming in would).
- `zero_share`: the share of pixels that are exactly 0 in a saved picture (real MNIST: about 82%).

`RealReference` bundles them with FID and diversity: made once, it scores any number of samplers.
"""

from __future__ import annotations

import numpy as np

from .._util import NeuroartError
from ..imaging import to_uint8
from .judge import _as_digits, _as_labels, feature_stats, frechet_from_stats, judge_agreement, judge_features, keras
from .pixels import diversity

#: The neighbours whose distance sets a feature's ball (Kynkäänniemi et al. use k = 3).
K_NEIGHBOURS = 3


# --------------------------------------------------------------------------- precision and recall


def _sq_norms(f: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", f, f)


def _sq_distances(a: np.ndarray, an: np.ndarray, b: np.ndarray, bn: np.ndarray) -> np.ndarray:
    return np.clip(an[:, None] + bn[None, :] - 2.0 * (a @ b.T), 0.0, None)


def knn_radii(features, *, k: int = K_NEIGHBOURS, batch: int = 1000) -> np.ndarray:
    """The squared distance from each feature (N, D) to its k-th nearest other feature, (N,)."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or not 1 <= k < len(f):
        raise NeuroartError(f"k-nearest neighbours need more than k={k} feature vectors (N, D), got shape {f.shape}")
    fn = _sq_norms(f)
    out = np.empty(len(f))
    for i in range(0, len(f), batch):
        d2 = _sq_distances(f[i : i + batch], fn[i : i + batch], f, fn)
        d2[np.arange(len(d2)), np.arange(i, i + len(d2))] = np.inf  # not its own neighbour
        out[i : i + batch] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return out


def _covered(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, batch: int) -> float:
    """The share of `points` inside at least one ball (centre, squared radius)."""
    pn, cn = _sq_norms(points), _sq_norms(centres)
    inside = [np.any(_sq_distances(points[i : i + batch], pn[i : i + batch], centres, cn) <= radii[None], axis=1)
              for i in range(0, len(points), batch)]
    return float(np.concatenate(inside).mean())


def precision_recall_features(features, reference_features, *, k: int = K_NEIGHBOURS,
                              batch: int = 1000) -> dict[str, float]:
    """Improved precision and recall of generated `features` against real `reference_features`
    (both (N, D); compare sets of the same size, since the balls shrink as N grows)."""
    g, r = np.asarray(features, np.float64), np.asarray(reference_features, np.float64)
    if g.ndim != 2 or r.ndim != 2 or g.shape[1] != r.shape[1]:
        raise NeuroartError(f"features must be (N, D) with the same D, got {g.shape} and {r.shape}")
    return {"precision": _covered(g, r, knn_radii(r, k=k, batch=batch), batch),
            "recall": _covered(r, g, knn_radii(g, k=k, batch=batch), batch)}


def precision_recall(images, reference_images, *, k: int = K_NEIGHBOURS, judge="cnn") -> dict[str, float]:
    """Improved precision and recall of `images` against real `reference_images` in the judge's
    features: ``{"precision": p, "recall": r}``, each in [0, 1]."""
    return precision_recall_features(judge_features(images, judge), judge_features(reference_images, judge), k=k)


# --------------------------------------------------------------------------- the two-sample test


def as_saved(images, what: str = "images") -> np.ndarray:
    """Digits as a saved picture holds them: quantised to bytes (`imaging.to_uint8`, as every PNG
    neuroart writes) and back to float32 in [0, 1]."""
    return to_uint8(_as_digits(images, what)).astype(np.float32) / 255.0


def detector_view(images, what: str = "images") -> np.ndarray:
    """What the detector sees: the saved bytes b on a log scale, ``log(1 + b) / log(256)``, float32
    in [0, 1]. Monotone and lossless (every byte keeps its own value; no threshold), it shows the
    faint end as a person zooming in sees it: byte 1 reads 0.125, not 0.004. On the linear scale
    the CNN did not learn the flow's background haze (52% on the 20-step flow, while a count of
    its pixels between bytes 1 and 5 alone told flow from real 98% of the time); on this one
    it does (92-97%), and real against real stays at 50%."""
    return (np.log1p(to_uint8(_as_digits(images, what)).astype(np.float32)) / np.log(256.0)).astype(np.float32)


def zero_share(images) -> float:
    """The share of pixels that are exactly 0 (no ink) once saved as bytes (`as_saved`)."""
    return float(np.mean(to_uint8(_as_digits(images)) == 0))


def _detector_model(seed: int):
    """Two convolutions and a dense logit, every weight drawn from `seed` (no global seed set)."""
    k = keras()
    init = [k.initializers.GlorotUniform(seed=seed * 3 + i) for i in range(3)]
    return k.Sequential([
        k.Input((28, 28, 1)),
        k.layers.Conv2D(16, 3, activation="relu", kernel_initializer=init[0]),
        k.layers.MaxPooling2D(),
        k.layers.Conv2D(32, 3, activation="relu", kernel_initializer=init[1]),
        k.layers.MaxPooling2D(),
        k.layers.Flatten(),
        k.layers.Dense(1, kernel_initializer=init[2]),
    ])


def detector_accuracy(images, real_images, *, seed: int = 0, examples: int = 30_000, batch_size: int = 64,
                      learning_rate: float = 2e-3) -> float:
    """A classifier two-sample test (Lopez-Paz & Oquab 2017): the held-out accuracy of a fresh
    small CNN trained to tell `images` from `real_images` (the same number of each).

    Each set is shuffled (`seed`) and halved: the CNN trains on one half of each and is scored on
    the other halves, so 0.5 means the two sets cannot be told apart and 1.0 that every digit
    gives itself away. Give real digits with the same class mix (`RealReference.training_digits`),
    or the CNN may learn the classes instead of realness.

    Both sets are seen as a saved picture holds them, quantised to bytes as every PNG neuroart
    writes (`imaging.to_uint8`), and on a log scale (`detector_view`): a generator's raw output
    is judged by what a viewer gets when zooming in, so faint background haze of a byte or more
    is plain to the detector, and float noise below half a byte (which no PNG keeps) is not.
    It trains on about `examples` digits (whole epochs over the fitting halves, at least one), so
    small sets get as many steps as large ones: 15 epochs at 2,000 vs 2,000 (about 10 s on 2
    cores). The same seed gives the same accuracy on the same machine; other seeds move it by a
    few points where the sets differ (the 20-step flow's digits at 2,000: 91-97% over seeds 0-2,
    86-93% with a third of the training), and by about 1 where they do not (real against real: 49-51%).
    """
    a, b = detector_view(images), detector_view(real_images, "real_images")
    if len(a) != len(b):
        raise NeuroartError(f"the detector needs as many real digits as generated ones, got {len(b)} and {len(a)}")
    if len(a) < 4:
        raise NeuroartError("the detector needs at least 4 digits in each set")
    if examples < 1 or batch_size < 1:
        raise NeuroartError("examples and batch_size must be at least 1")
    rng = np.random.default_rng(seed)
    pa, pb, h = rng.permutation(len(a)), rng.permutation(len(b)), len(a) // 2
    x_fit = np.concatenate([a[pa[:h]], b[pb[:h]]])[..., None]
    y_fit = np.repeat(np.array([1.0, 0.0], np.float32), h)
    x_test = np.concatenate([a[pa[h:]], b[pb[h:]]])[..., None]
    y_test = np.repeat([1, 0], len(a) - h)
    k = keras()
    model = _detector_model(seed)
    model.compile(optimizer=k.optimizers.Adam(learning_rate), loss=k.losses.BinaryCrossentropy(from_logits=True))
    epochs = max(1, -(-examples // len(x_fit)))
    order = np.concatenate([rng.permutation(len(x_fit)) for _ in range(epochs)])  # our shuffles: seeded
    model.fit(x_fit[order], y_fit[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    logits = np.concatenate([np.asarray(model(x_test[i : i + 1000], training=False)).reshape(-1)
                             for i in range(0, len(x_test), 1000)])
    return float(np.mean((logits > 0) == y_test))


# --------------------------------------------------------------------------- the reference


class RealReference:
    """Real digits to score generated ones against, at n = 10·per_digit (per_digit of each class):
    two disjoint real sets with the same class mix, their FID (the real-vs-real floor at that n),
    their precision and recall (the real-vs-real ceiling) and their within-class diversity. Made
    once, it scores any number of samplers (`score`).

    The two sets are drawn at random (`seed`) from all of `real_images`, not taken from the
    front: MNIST's test set holds two populations of writers (its first 5,000 digits are by
    Census employees, its last 5,000 by students), so the first digits of each class are a
    cleaner hand than the training set's mix, and real training digits scored 2.95x a floor
    taken from the front against 1.49x one drawn at random (n = 2,000).

    With `train_images` and `train_labels` (the generator's training digits), `score` also runs
    the detector (`detector_accuracy`) against training digits of the same class mix, and
    `training_digits(labels, other=True)` draws a disjoint set of them: scored as a sampler, they
    are the detector's real-vs-real floor (and what a perfect model of the training set scores).
    """

    def __init__(self, real_images, real_labels, per_digit: int, *, judge="cnn", seed: int = 0,
                 train_images=None, train_labels=None, k: int = K_NEIGHBOURS):
        x, y = _as_digits(real_images, "real_images"), _as_labels(real_labels, len(real_images))
        rng = np.random.default_rng(seed)
        picks = [rng.permutation(np.flatnonzero(y == d)) for d in range(10)]
        if min(len(p) for p in picks) < 2 * per_digit:
            raise NeuroartError(f"need {2 * per_digit} real digits of every class for per_digit={per_digit}")
        self.labels = np.repeat(np.arange(10), per_digit)
        self.a = x[np.concatenate([p[:per_digit] for p in picks])]
        self.b = x[np.concatenate([p[per_digit : 2 * per_digit] for p in picks])]
        self.judge, self.seed, self.k = judge, seed, k
        fa, self._features = judge_features(self.a, judge), judge_features(self.b, judge)
        self._stats = feature_stats(self._features)
        self.floor = frechet_from_stats(*feature_stats(fa), *self._stats)
        ceiling = precision_recall_features(fa, self._features, k=k)
        self.precision, self.recall = ceiling["precision"], ceiling["recall"]
        self.diversity = diversity(self.a, self.labels)
        self._train = None
        if train_images is not None:
            tx = _as_digits(train_images, "train_images")
            ty = _as_labels(train_labels, len(tx))
            self._train = (tx, [rng.permutation(np.flatnonzero(ty == d)) for d in range(10)])

    def training_digits(self, labels, *, other: bool = False) -> np.ndarray:
        """Real training digits with the class of each of `labels`, drawn once per class (seeded):
        the detector's real side, or with `other` a disjoint set of the same mix."""
        if self._train is None:
            raise NeuroartError("this RealReference was made without train_images")
        x, picks = self._train
        y = _as_labels(labels, len(np.asarray(labels).reshape(-1)))
        out = np.empty(len(y), np.int64)
        for d in np.unique(y):
            at, pool = np.flatnonzero(y == d), picks[d]
            if 2 * len(at) > len(pool):
                raise NeuroartError(f"need {2 * len(at)} training digits of class {d}, have {len(pool)}")
            out[at] = pool[len(pool) - len(at) :] if other else pool[: len(at)]
        return x[out]

    def score(self, images, labels=None, *, detector: bool = True) -> dict:
        """Scores of images of `labels` (default: the reference's own class mix, per_digit of each
        digit in order): judge agreement, FID and FID / floor, precision and recall, diversity /
        real, the share of exactly-zero pixels and, with training digits (unless `detector` is
        False), the detector's accuracy."""
        x = _as_digits(images)
        y = _as_labels(self.labels if labels is None else labels, len(x))
        f = judge_features(x, self.judge)
        fid = frechet_from_stats(*feature_stats(f), *self._stats)
        out = {"judge_agreement": judge_agreement(x, y, judge=self.judge), "fid": fid,
               "fid_over_floor": fid / self.floor, **precision_recall_features(f, self._features, k=self.k),
               "diversity_over_real": diversity(x, y) / self.diversity, "zero_share": zero_share(x)}
        if detector and self._train is not None:
            out["detector"] = detector_accuracy(x, self.training_digits(y), seed=self.seed)
        return out
