"""A check for copies: is a made digit new, or (nearly) a digit the model was trained on?

Carlini et al. (2023) found training images inside a generator's samples by their nearest
training neighbours. Here every digit is compared with all 60,000 MNIST training digits (pixel
L2 distance, images in [0, 1]) and called a **near copy** when it is closer to its nearest
training digit than 99% of real MNIST test digits are to theirs: the threshold is the 1st
percentile (`QUANTILE`) of the test digits' nearest-training distances. So real handwriting,
which nobody copied, scores 1% near copies by construction, and a generator that memorised its
training set scores near 100%.

The threshold is computed once per MNIST source (10,000 x 60,000 distances, ~30 s on two busy
cores) and cached under ``$XDG_CACHE_HOME/neuroart`` (``~/.cache/neuroart``), keyed by a hash
of the data. The distances are blocked float32 matrix products (``|a|^2 - 2 a.b + |b|^2``, blocks
of `BATCH` digits, < 1 GB), the chosen neighbour's distance then recomputed exactly.

`near_copies(images)` returns a `CopyCheck`: per digit its nearest training digit (index and
distance) and whether it is a near copy; its ``sheet()`` shows each near copy beside its
training neighbour (or, when there is none, the closest few digits beside theirs). `read_digits` reads the ``images`` of an npz that neuroart wrote.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ._util import NeuroartError, cache_dir, input_file
from .display import Displayed

QUANTILE = 0.01  # a near copy is closer to the training set than this share of real test digits
BATCH = 1000  # digits per block of the distance matrix (1,000 x 60,000 float32: 240 MB)
MAX_PAIRS = 64  # the sheet shows at most this many near copies (the closest first)
NO_COPY_PAIRS = 4  # ... and without any, this many of the closest digits


# --------------------------------------------------------------------------- distances


def _flat(images, what: str = "images") -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 2 and x.shape == (28, 28):
        x = x[None]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or not len(x):
        raise NeuroartError(f"{what} must be digits (N, 28, 28), got shape {tuple(x.shape)}")
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise NeuroartError(f"{what} have NaN or infinite values")
    return x.reshape(len(x), 784)


def nearest_training(images, train_images, *, batch: int = BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Each digit's nearest training digit: (distances float64 (N,), indices int64 (N,)).

    Pixel L2 distance of images in [0, 1] (uint8 digits count as bytes 0-255), in blocks of
    `batch` digits against all of `train_images`.
    """
    x, t = _flat(images), _flat(train_images, "train_images")
    tn = np.einsum("ij,ij->i", t, t)
    dist, index = np.empty(len(x)), np.empty(len(x), np.int64)
    for i in range(0, len(x), batch):
        xb = x[i : i + batch]
        d2 = xb @ t.T
        d2 *= -2.0
        d2 += tn  # |b|^2 - 2ab: the argmin over b does not need |a|^2
        j = d2.argmin(axis=1)
        diff = xb.astype(np.float64) - t[j]  # the chosen neighbour's distance, exactly
        dist[i : i + batch] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        index[i : i + batch] = j
    return dist, index


# --------------------------------------------------------------------------- the threshold


def real_threshold(data="auto", *, quantile: float = QUANTILE) -> float:
    """The `quantile` of real MNIST test digits' distances to their nearest training digit.

    Computed from all 10,000 test digits of `data` once, then read from the cache (keyed by a
    hash of the data and the quantile); an unwritable cache only means computing it again.
    """
    from .data import load_mnist
    from .validate import finite

    quantile = finite("quantile", quantile, low=0, high=1, low_open=True, high_open=True)
    (x, _), (xt, _) = load_mnist(data)
    return _threshold(x, xt, quantile)


def _threshold(train: np.ndarray, test: np.ndarray, quantile: float) -> float:
    key = hashlib.sha256(np.ascontiguousarray(train).tobytes() + np.ascontiguousarray(test).tobytes())
    path = cache_dir() / f"copies-{key.hexdigest()[:16]}-q{quantile:g}.json"
    try:
        cached = float(json.loads(path.read_text())["threshold"])
        if np.isfinite(cached) and cached > 0:  # else (a damaged cache) computed again
            return cached
    except (OSError, ValueError, KeyError, TypeError):
        pass
    dist, _ = nearest_training(test, train)
    value = float(np.quantile(dist, quantile))
    try:
        from ._util import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"threshold": value, "quantile": quantile, "test_digits": len(test)}))
    except (OSError, NeuroartError):
        pass
    return value


# --------------------------------------------------------------------------- the check


@dataclass(repr=False)
class CopyCheck(Displayed):
    """What `near_copies` found: per digit its nearest training digit and whether it is a near copy.

    `distances` (N,) pixel L2 to the nearest training digit, `nearest` (N,) its index in the
    training set, `near_copy` (N,) distance < `threshold`; `quantile` is the share of real test
    digits below the threshold (what real handwriting scores). `shown` are the digits the sheet
    shows (the near copies, closest first, at most `MAX_PAIRS`; without any, the closest `NO_COPY_PAIRS`)
    and `neighbours` their nearest training digits.
    """

    images: np.ndarray
    distances: np.ndarray
    nearest: np.ndarray
    near_copy: np.ndarray
    threshold: float
    shown: np.ndarray
    neighbours: np.ndarray
    quantile: float = QUANTILE
    data: str = "auto"

    @property
    def near_copy_share(self) -> float:
        return float(self.near_copy.mean())

    def summary(self) -> dict:
        """The numbers in brief (what ``--json`` prints)."""
        return {"digits": int(len(self.distances)), "near_copies": int(self.near_copy.sum()),
                "near_copy_share": round(self.near_copy_share, 6), "real_share": self.quantile,
                "threshold": round(self.threshold, 6), "median_distance": round(float(np.median(self.distances)), 6)}

    def message(self) -> str:
        s = self.summary()
        return (f"{s['near_copies']:,} of {s['digits']:,} digits are near copies of training digits "
                f"({s['near_copy_share']:.1%}; real test digits: {self.quantile:.0%}), closer than "
                f"{self.threshold:.2f} to their nearest training digit; median distance {s['median_distance']:.2f}")

    def sheet(self):
        """The `shown` digits, each beside its nearest training digit, four pairs a row: under a
        digit its distance, under its neighbour the neighbour's index in the training set."""
        from .outputs import Sheet

        cells, captions = [], []
        for i, neighbour in zip(self.shown, self.neighbours, strict=True):
            cells += [self.images[i], neighbour]
            captions += [f"{self.distances[i]:.2f}", f"#{self.nearest[i]}"]  # its distance; the training index
        return Sheet(np.stack(cells).astype(np.float32), ncols=min(8, len(cells)), captions=captions,
                     recipe={"data": self.data, "threshold": round(self.threshold, 6)},
                     message=self.message())


def near_copies(images, *, data="auto", threshold: float | None = None, quantile: float = QUANTILE,
                batch: int = BATCH) -> CopyCheck:
    """Compare each digit with every MNIST training digit of `data`; see the module's notes.

    `threshold` (pixel L2) overrides the one learnt from real test digits (`real_threshold`).
    """
    from .data import mnist_with_source
    from .validate import finite, integer

    batch = integer("batch", batch, low=1)
    x = _flat(images).reshape(-1, 28, 28)
    (train, _), (test, _), _ = mnist_with_source(data)
    if threshold is None:
        threshold = _threshold(train, test, finite("quantile", quantile, low=0, high=1, low_open=True, high_open=True))
    threshold = finite("threshold", threshold, low=0)
    dist, index = nearest_training(x, train, batch=batch)
    near = dist < threshold
    pool = np.flatnonzero(near) if near.any() else np.arange(len(x))
    shown = pool[np.argsort(dist[pool], kind="stable")[: MAX_PAIRS if near.any() else NO_COPY_PAIRS]]
    neighbours = _flat(train[index[shown]]).reshape(-1, 28, 28)
    return CopyCheck(x, dist, index, near, float(threshold), shown, neighbours, quantile=quantile, data=str(data))


def read_digits(path) -> np.ndarray:
    """The ``images`` of an npz (as `neuroart ... --npz` writes it): float32 (N, 28, 28) in [0, 1]."""
    import zipfile

    input_file(path, what="npz file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise NeuroartError(f"{path}: has no `images` array (it has: {', '.join(z.files) or 'nothing'})")
            images = z["images"]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise NeuroartError(f"{path}: not a readable .npz ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    x = _flat(images, f"{path}: images").reshape(-1, 28, 28)
    if x.min() < 0 or x.max() > 1:
        raise NeuroartError(f"{path}: images must be in [0, 1] (or uint8 bytes), got {x.min():g} to {x.max():g}")
    return x
