"""The robustness benchmark: MNIST test digits as people really send them (after MNIST-C).

Mu & Gilmer (2019) corrupt the MNIST test set in 15 ways that keep a digit readable; a plain CNN's
error grows up to 10x. These corruptions are the ones a reader of people's digits meets:

- on the 28x28 digit itself (what the model sees): low resolution (8x8, 12x12, 16x16 and back),
  thick and thin pens, blur, Gaussian and impulse noise, rotation, shear, off-centre;
- as a picture read through the real preprocessing (`neuroart.data.mnist_style`): dark ink on
  light paper, a photo's lighting gradient, a JPEG photo, and strokes redrawn the way a browser
  canvas draws them (the skeleton, redrawn at one width with round caps).

Every corruption is seeded: `corrupt(images, name, seed=...)` gives the same bytes for the same
seed. `benchmark` scores several models on the same corrupted images.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from .._util import NeuroartError

CORRUPTIONS = (
    "lowres 8x8",
    "lowres 12x12",
    "lowres 16x16",
    "thick pen",
    "thin pen",
    "blur",
    "noise",
    "impulse noise",
    "rotate 15-25",
    "shear",
    "off-centre",
    "inverted paper",
    "photo lighting",
    "jpeg photo",
    "canvas strokes",
)

DEFAULT_SAMPLE = 2000


# --------------------------------------------------------------------------- small tools


def _pil_map(images: np.ndarray, fn) -> np.ndarray:
    """Apply `fn(PIL float image, index) -> PIL image or array` to each (28, 28) image."""
    from PIL import Image

    out = [np.asarray(fn(Image.fromarray(np.asarray(im, np.float32), "F"), i), np.float32) for i, im in enumerate(images)]
    return np.stack(out)


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift (N, H, W) by whole pixels, filling with zeros."""
    out = np.zeros_like(a)
    h, w = a.shape[1:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, yd, xd] = a[:, ys, xs]
    return out


def _filter(a: np.ndarray, size: int, fn) -> np.ndarray:
    """A flat size x size max/min filter on (N, H, W) (zeros outside)."""
    lo = -(size // 2)
    stack = [_shift(a, dy, dx) for dy in range(lo, lo + size) for dx in range(lo, lo + size)]
    return fn(np.stack(stack), axis=0)


def _disk(a: np.ndarray, radius: float) -> np.ndarray:
    """Binary dilation of (N, H, W) by a disk (a round pen of that radius)."""
    r = int(math.ceil(radius))
    out = np.zeros_like(a)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx <= radius * radius:
                out |= _shift(a, dy, dx)
    return out


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    r = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    a = sum(w * _shift(a, d, 0) for d, w in zip(range(-r, r + 1), k, strict=True))
    return sum(w * _shift(a, 0, d) for d, w in zip(range(-r, r + 1), k, strict=True))


def _renorm(a: np.ndarray) -> np.ndarray:
    peak = a.reshape(len(a), -1).max(1).reshape(-1, 1, 1)
    return np.clip(a / np.maximum(peak, 1e-6), 0, 1)


def _affine(images: np.ndarray, matrices) -> np.ndarray:
    """Resample each image by an inverse map (a, b, c, d, e, f) about the centre (Pillow AFFINE)."""
    from PIL import Image

    def one(im, i):
        a, b, c, d, e, f = matrices[i]
        # Pillow's AFFINE maps output (x, y) to input (a x + b y + c, d x + e y + f)
        cx = cy = 14.0
        coeffs = (a, b, cx - a * cx - b * cy + c, d, e, cy - d * cx - e * cy + f)
        return im.transform((28, 28), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)

    return np.clip(_pil_map(images, one), 0, 1)


def _skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a batch of binary masks (N, H, W), vectorised over the batch."""
    img = np.pad(mask.astype(np.uint8), ((0, 0), (1, 1), (1, 1)))
    while True:
        changed = False
        for step in (0, 1):
            p = img
            n = [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],  # P2 N, P3 NE, P4 E, P5 SE
                 p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]  # P6 S, P7 SW, P8 W, P9 NW
            b = sum(x.astype(np.int16) for x in n)
            a = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.int16) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if step == 0:
                cond = ((p2 * p4 * p6) == 0) & ((p4 * p6 * p8) == 0)
            else:
                cond = ((p2 * p4 * p8) == 0) & ((p2 * p6 * p8) == 0)
            remove = (p[:, 1:-1, 1:-1] == 1) & (b >= 2) & (b <= 6) & (a == 1) & cond
            if remove.any():
                changed = True
                img[:, 1:-1, 1:-1][remove] = 0
        if not changed:
            return img[:, 1:-1, 1:-1].astype(bool)


def _up(images: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return _pil_map(images, lambda im, i: im.resize((size, size), Image.Resampling.BILINEAR))


def _through_preprocessing(pictures) -> np.ndarray:
    from ..data import mnist_style

    return np.stack([mnist_style(p) for p in pictures])


def _paper(images: np.ndarray, rng, size: int = 84) -> np.ndarray:
    """Dark ink on light paper at `size` pixels (paper 0.8-0.95, ink 0.05-0.3), with grain."""
    ink = np.clip(_up(images, size), 0, 1)
    n = len(images)
    paper = rng.uniform(0.8, 0.95, (n, 1, 1))
    dark = rng.uniform(0.05, 0.3, (n, 1, 1))
    pic = paper - (paper - dark) * ink
    return np.clip(pic + rng.normal(0, 0.02, pic.shape), 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- the corruptions


def corrupt(images: np.ndarray, name: str, *, seed: int = 0) -> np.ndarray:
    """MNIST-style float images (N, 28, 28) in [0, 1] under corruption `name` (see CORRUPTIONS)."""
    from PIL import Image

    if name not in CORRUPTIONS:
        raise NeuroartError(f"unknown corruption {name!r} (choose from {', '.join(CORRUPTIONS)})")
    x = np.asarray(images, np.float32)
    n = len(x)
    rng = np.random.default_rng([int(seed), CORRUPTIONS.index(name)])
    if name.startswith("lowres"):
        s = int(name.split()[1].split("x")[0])
        return np.clip(_pil_map(x, lambda im, i: im.resize((s, s), Image.Resampling.BOX)
                                .resize((28, 28), Image.Resampling.BILINEAR)), 0, 1)
    if name == "thick pen":
        return _filter(x, 3, np.max)
    if name == "thin pen":
        return _renorm(_filter(x, 2, np.min))
    if name == "blur":
        return _renorm(_gauss(x, 1.2))
    if name == "noise":
        return np.clip(x + rng.normal(0, 0.3, x.shape), 0, 1).astype(np.float32)
    if name == "impulse noise":
        r = rng.random(x.shape)
        return np.where(r < 0.03, 0.0, np.where(r > 0.97, 1.0, x)).astype(np.float32)
    if name == "rotate 15-25":
        ang = np.radians(rng.uniform(15, 25, n) * rng.choice([-1, 1], n))
        return _affine(x, [(math.cos(t), -math.sin(t), 0, math.sin(t), math.cos(t), 0) for t in ang])
    if name == "shear":
        sh = rng.uniform(0.3, 0.5, n) * rng.choice([-1, 1], n)
        return _affine(x, [(1, s, 0, 0, 1, 0) for s in sh])
    if name == "off-centre":
        ang = rng.uniform(0, 2 * math.pi, n)
        return _affine(x, [(1, 0, -4 * math.cos(t), 0, 1, -4 * math.sin(t)) for t in ang])
    if name == "inverted paper":
        return _through_preprocessing(_paper(x, rng))
    if name == "photo lighting":
        pic = _paper(x, rng, 112)
        t = rng.uniform(0, 2 * math.pi, n)
        yy, xx = np.mgrid[0:112, 0:112] / 111.0 - 0.5
        ramp = np.cos(t)[:, None, None] * xx + np.sin(t)[:, None, None] * yy + 0.5  # 0..1 across
        low = rng.uniform(0.3, 0.5, (n, 1, 1))
        light = 1.0 - (1.0 - low) * ramp
        return _through_preprocessing(np.clip(pic * light, 0, 1))
    if name == "jpeg photo":
        pics = _paper(x, rng, 56)
        out = []
        for p in pics:
            buf = io.BytesIO()
            Image.fromarray((p * 255).astype(np.uint8)).save(buf, "JPEG", quality=15)
            out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())), np.float32) / 255.0)
        return _through_preprocessing(out)
    if name == "canvas strokes":
        big = _up(x, 112) > 0.5
        skel = _skeleton(big)
        drawn = _disk(skel, 4.5).astype(np.float32)  # a round pen, 9 pixels wide on a 112 canvas
        return _through_preprocessing(drawn)
    raise AssertionError(name)


def _sample(x, y, n: int | None, seed: int):
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return x[idx], y[idx]


def benchmark(models, x=None, y=None, *, n: int | None = DEFAULT_SAMPLE, seed: int = 0, data: str = "auto",
              names=CORRUPTIONS, show_progress: bool = False) -> dict:
    """Accuracy of each model under each corruption, on the same seeded sample of the test set.

    `models` maps labels to models (or bundled names / .keras paths); a single model or name works
    too. Returns ``{"n", "seed", "corruptions", "models": {label: {"clean", "accuracy": {name: acc},
    "mean", "worst"}}}``; `n=None` uses all 10,000 test digits. Every model must keep the
    classifier contract (`neuroart.models.load_classifier`); `show_progress` draws a bar on stderr.
    """
    from .._util import progress
    from ..data import load_mnist
    from ..models import load_classifier
    from .read import predict

    if not isinstance(models, dict):
        models = {str(models) if isinstance(models, (str, os.PathLike)) else getattr(models, "name", "model"): models}
    nets = {k: load_classifier(m) for k, m in models.items()}
    if n is not None and n < 1:
        raise NeuroartError(f"sample size must be >= 1, got {n}")
    if x is None:
        _, (x, y) = load_mnist(data)
    x = np.asarray(x)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else np.asarray(x, np.float32)
    x, y = _sample(x, np.asarray(y), n, seed)
    res = {k: {"clean": round(float((predict(m, x).argmax(1) == y).mean()), 4), "accuracy": {}} for k, m in nets.items()}
    with progress(names, label="corruptions", show=show_progress) as bar:
        for name in bar:
            xc = corrupt(x, name, seed=seed)
            for k, m in nets.items():
                res[k]["accuracy"][name] = round(float((predict(m, xc).argmax(1) == y).mean()), 4)
    for r in res.values():
        accs = list(r["accuracy"].values())
        r["mean"] = round(float(np.mean(accs)), 4) if accs else None
        r["worst"] = min(r["accuracy"], key=r["accuracy"].get) if accs else None
    return {"n": int(len(x)), "seed": seed, "corruptions": list(names), "models": res}


def evaluate_corruptions(model, x=None, y=None, *, n: int | None = DEFAULT_SAMPLE, seed: int = 0,
                         data: str = "auto") -> dict:
    """`benchmark` for one model: ``{"n", "clean", "accuracy": {name: acc}, "mean", "worst"}``."""
    out = benchmark({"model": model}, x, y, n=n, seed=seed, data=data)
    return {"n": out["n"], "seed": seed, **out["models"]["model"]}


def format_table(result: dict) -> list[str]:
    """The benchmark as text lines: one row per corruption, one column per model, then the mean."""
    labels = list(result["models"])
    width = max(len(c) for c in [*result["corruptions"], "clean (no corruption)"]) + 2
    head = "corruption".ljust(width) + "".join(f"{lb:>10}" for lb in labels)
    lines = [head, "-" * len(head)]
    rows = [("clean (no corruption)", {lb: result["models"][lb]["clean"] for lb in labels})]
    rows += [(c, {lb: result["models"][lb]["accuracy"][c] for lb in labels}) for c in result["corruptions"]]
    for name, accs in rows:
        lines.append(name.ljust(width) + "".join(f"{accs[lb]:>10.2%}" for lb in labels))
    lines.append("-" * len(head))
    lines.append("mean of corruptions".ljust(width) + "".join(f"{result['models'][lb]['mean']:>10.2%}" for lb in labels))
    lines.append(f"({result['n']:,} MNIST test digits, seed {result['seed']})")
    return lines


# --------------------------------------------------------------------------- drawn digits


def _arc(cx, cy, rx, ry, a0, a1, n=16):
    """Points on an elliptical arc; angles in degrees, 0 = right, 90 = down (image coordinates)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t), strict=True))


# each digit: a few pen strokes in a unit box (x right, y down), two hands where people differ
_STROKES = {
    0: [[_arc(0.5, 0.5, 0.32, 0.45, -90, 275, 28)]],
    1: [[[(0.5, 0.05), (0.5, 0.95)]], [[(0.3, 0.22), (0.55, 0.05), (0.55, 0.95)]]],
    2: [[_arc(0.5, 0.3, 0.3, 0.25, 200, 380) + [(0.2, 0.95), (0.85, 0.95)]]],
    3: [[_arc(0.5, 0.28, 0.28, 0.23, 200, 450) + _arc(0.5, 0.72, 0.3, 0.23, 270, 500)]],
    4: [[[(0.65, 0.95), (0.65, 0.05), (0.15, 0.65), (0.85, 0.65)]],
        [[(0.25, 0.05), (0.2, 0.6), (0.85, 0.6)], [(0.7, 0.25), (0.7, 0.95)]]],
    5: [[[(0.8, 0.05), (0.3, 0.05), (0.27, 0.45)] + _arc(0.5, 0.66, 0.3, 0.28, 240, 500)]],
    6: [[[(0.7, 0.05), (0.45, 0.2), (0.28, 0.45)] + _arc(0.5, 0.7, 0.25, 0.25, 180, 540, 24)]],
    7: [[[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
        [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)], [(0.3, 0.5), (0.75, 0.5)]]],
    8: [[_arc(0.5, 0.27, 0.22, 0.22, 90, 450, 20) + _arc(0.5, 0.72, 0.27, 0.23, -90, 270, 20)]],
    9: [[_arc(0.5, 0.3, 0.26, 0.24, 0, 360, 20) + [(0.76, 0.3), (0.7, 0.95)]]],
}

STYLES = ("marker", "ballpoint", "pencil", "chalk", "photo", "canvas", "coloured", "border", "16-bit", "tiny scan")


def draw_digit(label: int, *, style: str = "marker", seed: int = 0):
    """A digit drawn the way people send them, as a Pillow image (for tests and the benchmark).

    The strokes of `label` are jittered, slanted, rotated and squeezed by `seed`, then drawn in
    `style`: a black marker on white, a thin blue ballpoint on a big white page, a grey pencil on
    textured paper, chalk on a green board, a phone photo (uneven light, blur, JPEG), strokes on a
    transparent canvas (RGBA), red ink on yellow paper, a tight crop touching the border, a
    16-bit gray PNG, or a tiny scan (20x20 pixels).
    """
    from PIL import Image, ImageDraw

    if style not in STYLES:
        raise NeuroartError(f"unknown style {style!r} (choose from {', '.join(STYLES)})")
    rng = np.random.default_rng([int(seed), int(label), STYLES.index(style)])
    hands = _STROKES[int(label)]
    strokes = hands[rng.integers(len(hands))]
    slant, rot = rng.uniform(-0.4, 0.3), np.radians(rng.uniform(-18, 18))
    squeeze = rng.uniform(0.55, 1.05)
    wobble, freq, phase = rng.uniform(0, 0.05), rng.uniform(0.5, 1.5), rng.uniform(0, 2 * math.pi)
    size = {"ballpoint": 600, "photo": 320, "16-bit": 160, "border": 120, "tiny scan": 20}.get(style, 240)
    box = size * (0.25 if style == "ballpoint" else 0.7 if style != "border" else 1.0)
    if style == "ballpoint":  # a small digit somewhere on a big page
        off = (rng.uniform(0.1, 0.6) * size, rng.uniform(0.1, 0.6) * size)
    elif style == "border":  # cropped so tight that strokes run off the edge
        off = (-0.03 * box, -0.03 * box)
    else:
        off = ((size - box) / 2, (size - box) / 2)

    def place(p):
        x, y = p[0] - 0.5 + rng.normal(0, 0.02), p[1] - 0.5 + rng.normal(0, 0.02)
        x = x + wobble * math.sin(2 * math.pi * freq * y + phase)  # an unsteady hand
        x = x * squeeze - slant * y
        x, y = x * math.cos(rot) - y * math.sin(rot), x * math.sin(rot) + y * math.cos(rot)
        return (off[0] + (x + 0.5) * box, off[1] + (y + 0.5) * box)

    pen = box * {"marker": 0.12, "ballpoint": 0.03, "pencil": 0.06, "chalk": 0.1, "canvas": 0.09}.get(
        style, rng.uniform(0.06, 0.11))
    sup = max(1, 720 // size)  # draw larger (up to 720 pixels), then shrink: smooth edges
    mask = Image.new("L", (size * sup, size * sup), 0)
    d = ImageDraw.Draw(mask)
    w = max(1, int(round(pen * sup)))
    for stroke in strokes:
        pts = [(x * sup, y * sup) for x, y in map(place, stroke)]
        d.line(pts, fill=255, width=w, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps
            d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=255)
    ink = np.asarray(mask.resize((size, size), Image.Resampling.BOX), np.float32)[..., None] / 255.0
    return _paint(ink, style, size, rng)


def _paint(ink, style: str, size: int, rng):
    """The ink (size, size, 1) in [0, 1] on the paper and with the pen of `style`, as a Pillow image."""
    from PIL import Image, ImageFilter


    def colour(paper, pen_colour, grain=0.0):
        paper = np.asarray(paper, np.float32)
        pic = paper * (1 - ink) + np.asarray(pen_colour, np.float32) * ink
        return np.clip(pic + rng.normal(0, grain, pic.shape[:2] + (1,)), 0, 1)

    def rgb(a):
        return Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8).squeeze())

    if style in ("marker", "border", "tiny scan"):
        return rgb(colour([1, 1, 1], [0, 0, 0]))
    if style == "ballpoint":
        return rgb(colour([0.97, 0.97, 0.97], [0.1, 0.15, 0.6], 0.01))
    if style == "pencil":
        gray = colour([0.82], [0.35], 0.05)
        return rgb(np.asarray(rgb(gray).filter(ImageFilter.GaussianBlur(0.6)), np.float32) / 255.0)
    if style == "chalk":
        return rgb(colour([0.1, 0.3, 0.2], [0.9, 0.9, 0.85], 0.04))
    if style == "coloured":
        return rgb(colour([1.0, 0.95, 0.55], [0.85, 0.1, 0.1], 0.01))
    if style == "canvas":
        a = (ink[..., 0] * 255).astype(np.uint8)
        img = np.zeros((size, size, 4), np.uint8)
        img[..., 3] = a
        return Image.fromarray(img, "RGBA")
    if style == "16-bit":
        pic = 0.9 - 0.8 * ink[..., 0]  # dark ink on light paper, all in 16 bits
        return Image.fromarray((pic * 65535).astype(np.uint16))  # mode I;16
    # photo: paper under uneven light, a little blur, saved as a JPEG by the phone
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1.0) - 0.5
    t = rng.uniform(0, 2 * math.pi)
    light = 1.0 - rng.uniform(0.3, 0.55) * (np.cos(t) * xx + np.sin(t) * yy + 0.5)
    pic = colour([0.92, 0.9, 0.85], [0.15, 0.15, 0.2], 0.02) * light[..., None]
    buf = io.BytesIO()
    rgb(pic).filter(ImageFilter.GaussianBlur(1.0)).save(buf, "JPEG", quality=40)
    return Image.open(io.BytesIO(buf.getvalue()))
