"""Low-resolution scans: the benchmark family of issue 18, made from MNIST test digits.

Some collections of handwriting keep each digit as a tiny grey scan: the digit is cut to its
ink, stretched to fill a square frame (its aspect is not kept), box-filtered down to 8x8 or
16x16 pixels and quantised to 16 grey levels; to look at one, it is enlarged again to 56-112
pixels by a viewer's bilinear, bicubic or nearest-neighbour filter. Strokes come out soft and
wide, and the digit touches the frame on every side.

`scan_pictures(images, name, seed=...)` makes such files' pixels (uint8, dark ink on white
paper, one picture per digit) from MNIST-style digits; `read_preprocessed` reads them the way
`neuroart classify` reads files (`neuroart.data.mnist_style`), `read_plain` as the plain resize
(invert, shrink to 28x28, nothing else) that any reader must at least match.
"""

from __future__ import annotations

import numpy as np

from .._util import NeuroartError

#: "scan SxS FILTER": box-filtered to S pixels, 16 grey levels, enlarged by FILTER to 56-112 px.
SCANS = tuple(f"scan {s}x{s} {f}" for s in (8, 16) for f in ("bilinear", "bicubic", "nearest"))
FRAME = 32  # the stretched digit's frame before the box filter (the size such scans start from)
#: a narrow digit (a 1) is stretched to at most this many times its own width
MAX_STRETCH = (1.3, 2.5)


def _stretch(digit: np.ndarray, rng) -> np.ndarray:
    """Cut a (28, 28) digit to its ink and stretch it to fill a FRAME x FRAME square: the full
    height, and the full width unless that would widen it more than `MAX_STRETCH` (random) times."""
    from PIL import Image

    rows, cols = np.nonzero(digit > 0.05)
    if rows.size == 0:
        return np.zeros((FRAME, FRAME), np.float32)
    crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape
    width = int(min(FRAME, max(1, round(FRAME * w / h * rng.uniform(*MAX_STRETCH)))))
    im = Image.fromarray(np.asarray(crop, np.float32), "F").resize((width, FRAME), Image.Resampling.BILINEAR)
    out = np.zeros((FRAME, FRAME), np.float32)
    left = (FRAME - width) // 2
    out[:, left : left + width] = np.asarray(im, np.float32)
    return np.clip(out, 0, 1)


def scan_pictures(images: np.ndarray, name: str, *, seed: int = 0) -> list[np.ndarray]:
    """MNIST-style digits (N, 28, 28) in [0, 1] as enlarged low-resolution scans: a list of uint8
    (H, W) pictures, dark ink on white paper, H = W drawn per digit from 56-112."""
    from PIL import Image

    if name not in SCANS:
        raise NeuroartError(f"unknown scan family {name!r} (choose from {', '.join(SCANS)})")
    _, size, how = name.split()
    s = int(size.split("x")[0])
    resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                "nearest": Image.Resampling.NEAREST}[how]
    rng = np.random.default_rng([int(seed), 18, SCANS.index(name)])
    out = []
    for digit in np.asarray(images, np.float32):
        frame = _stretch(digit, rng)
        small = np.asarray(Image.fromarray(frame, "F").resize((s, s), Image.Resampling.BOX), np.float32)
        levels = np.rint(np.clip(small, 0, 1) * 15) / 15  # 16 grey levels
        paper = Image.fromarray(np.rint(255 * (1 - levels)).astype(np.uint8), "L")
        big = int(rng.integers(56, 113))
        out.append(np.asarray(paper.resize((big, big), resample), np.uint8))
    return out


def read_preprocessed(pictures) -> np.ndarray:
    """The pictures as `neuroart classify` reads image files (each saved as a PNG and read back by
    `neuroart.data.digit_from_bytes`, the preprocessing of `load_digit_image`): (N, 28, 28)."""
    import io

    from PIL import Image

    from ..data import digit_from_bytes

    out = []
    for p in pictures:
        buf = io.BytesIO()
        Image.fromarray(np.asarray(p, np.uint8), "L").save(buf, "PNG")
        out.append(digit_from_bytes(buf.getvalue()))
    return np.stack(out)


def benchmark_scans(models, x, y, *, seed: int = 0, names=SCANS) -> dict:
    """Accuracy per scan family and model, read through the preprocessing and by the plain
    resize: ``{name: {label: {"preprocessed": acc, "plain": acc}}}``. `models` maps labels to
    Keras classifiers; `x` (N, 28, 28) in [0, 1] and `y` are MNIST test digits and labels."""
    from .read import predict

    out = {}
    for name in names:
        pictures = scan_pictures(x, name, seed=seed)
        pre, plain = read_preprocessed(pictures), read_plain(pictures)
        out[name] = {k: {"preprocessed": round(float((predict(m, pre).argmax(1) == y).mean()), 4),
                         "plain": round(float((predict(m, plain).argmax(1) == y).mean()), 4)}
                     for k, m in models.items()}
    return out


def read_plain(pictures) -> np.ndarray:
    """The plain resize: invert and shrink to 28x28 (Pillow's bilinear, antialiased), nothing else."""
    from PIL import Image

    return np.stack([1.0 - np.asarray(Image.fromarray(p, "L").resize((28, 28), Image.Resampling.BILINEAR),
                                      np.float32) / 255.0 for p in pictures])
