"""A person's picture of one digit made MNIST-style (pixels in, pixels out; no files).

`to_gray` turns a decoded Pillow image into an ink map (ink bright, whatever the colours);
`mnist_style` makes that map a 28x28 digit as MNIST was made. Reading files and uploads is
`neuroart.data`'s job (`load_digit_image`, `digit_from_bytes`), which calls these two.
"""

from __future__ import annotations

import numpy as np

from .._util import NeuroartError


def to_gray(img) -> np.ndarray:
    """Pillow image -> float32 ink map in [0, 1]: ink bright, paper dark, whatever the colours.

    The paper's colour is the median colour of the border; a pixel's ink is how far its colour
    is from the paper's (the largest channel difference), so blue, red or yellow ink on white,
    chalk on a blackboard and dark ink on grey paper all become bright strokes on black.
    Transparent areas are nothing: they are laid on a background that contrasts with the visible
    pixels before the paper is measured. 16-bit and 32-bit gray images keep their full range.
    Pictures over 1024 pixels across are first shrunk (box filter) to keep reading fast.
    """
    factor = -(-max(img.size) // 1024)
    if factor > 1:  # every mode is shrunk before any float copy is made (a small file can hold a big picture)
        if img.mode.startswith("I;16"):
            img = img.convert("I")  # same values, a mode that reduces (top stays 16-bit, see below)
        elif img.mode == "1":
            img = img.convert("L")
        elif img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        sixteen = img.mode == "I" and img.getextrema()[1] > 255
        img = img.reduce(factor)
    else:
        sixteen = False
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), np.float32) / 255.0
        alpha = rgba[..., 3:]
        seen = alpha[..., 0] > 0.5
        lum = rgba[..., :3].mean(-1)
        bg = 1.0 if (lum[seen].mean() if seen.any() else 0.0) < 0.5 else 0.0
        rgb = rgba[..., :3] * alpha + bg * (1 - alpha)
    elif img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        raw = np.nan_to_num(np.asarray(img, np.float64), nan=0.0, posinf=0.0, neginf=0.0)  # no ink where undefined
        if img.mode == "F":
            top = 1.0 if raw.size and raw.max() <= 1.0 else max(float(raw.max()), 1.0)
        else:
            top = 65535.0 if img.mode.startswith("I;16") or sixteen or (raw.size and raw.max() > 255) else 255.0
        rgb = np.clip(raw / top, 0, 1).astype(np.float32)[..., None]
    elif img.mode in ("L", "1"):
        rgb = np.asarray(img.convert("L"), np.float32)[..., None] / 255.0
    else:
        rgb = np.asarray(img.convert("RGB"), np.float32) / 255.0
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    return np.abs(rgb - _paper_colour(border, rgb)).max(-1).astype(np.float32)


def _paper_colour(border: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The paper's colour from the border's pixels (K, C): the median of the fifth of them
    farthest from the ink (the lightest when the paper is lighter than the ink, else the
    darkest).

    A digit that fills its frame touches the border on every side, and a photo's light falls
    across the page; the border's plain median would then be a grey between ink and paper, and
    paper on either side of it would read as ink.
    """
    lum = border.mean(-1)
    mid, every = float(np.median(lum)), pixels.mean(-1)
    light = mid - float(every.min()) > float(every.max()) - mid  # dark ink on light paper
    side = lum >= np.percentile(lum, 80) if light else lum <= np.percentile(lum, 20)
    return np.median(border[side], axis=0)


def _sliding(a: np.ndarray, size: int, fn) -> np.ndarray:
    """A flat size x size min or max filter (edges padded with the nearest value), separably."""
    r = size // 2
    v = np.lib.stride_tricks.sliding_window_view
    a = fn(v(np.pad(a, ((r, r), (0, 0)), mode="edge"), size, axis=0), axis=-1)
    return fn(v(np.pad(a, ((0, 0), (r, r)), mode="edge"), size, axis=1), axis=-1)


def _box3(a: np.ndarray) -> np.ndarray:
    """3x3 mean (edges padded with the nearest value)."""
    p = np.pad(np.asarray(a, np.float32), 1, mode="edge")
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


def _resize(a: np.ndarray, size: tuple[int, int], method: str = "box") -> np.ndarray:
    """Resize a float image to (width, height) with Pillow's float mode."""
    from PIL import Image

    resample = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
                "lanczos": Image.Resampling.LANCZOS}[method]
    return np.asarray(Image.fromarray(np.asarray(a, np.float32), "F").resize(size, resample), np.float32)


def _remove_background(g: np.ndarray) -> np.ndarray:
    """Subtract the slowly varying paper (lighting gradients, shadows, grey paper).

    The paper is estimated by a grey opening (min then max filter) with a window far wider than a
    pen stroke, computed on a copy at most 64 pixels across and scaled back up: it follows a
    gradient exactly and never contains a stroke.
    """
    h, w = g.shape
    f = 64.0 / max(h, w)
    if f < 1:
        small = _resize(g, (max(1, round(w * f)), max(1, round(h * f))))
    else:
        small = g
    win = max(3, (max(small.shape) // 3) | 1)
    paper = _sliding(_sliding(small, win, np.min), win, np.max)
    if small is not g:
        paper = _resize(paper, (w, h), "bilinear")
    return np.clip(g - paper, 0, None)


def _stroke_width(ink: np.ndarray) -> float:
    """Mean width of the strokes of a binary ink mask: twice the area over the outline's length."""
    area = ink.sum()
    inner = ink[1:-1, 1:-1] & ink[:-2, 1:-1] & ink[2:, 1:-1] & ink[1:-1, :-2] & ink[1:-1, 2:]
    outline = area - inner.sum()
    return 2.0 * area / max(outline, 1)


#: A picture is *soft* when at least this share of its ink is faint (under half the strongest
#: stroke): blurry or enlarged low-resolution scans, where the grey levels are the shape (issue 18).
SOFT_SHARE = 0.28
#: ... and when its strokes are at least this share of the digit's height or width (MNIST: ~0.13).
SOFT_WIDTH = 0.05
#: Strokes this wide (of the digit's size) need only `SOFT_SHARE_WIDE` of faint ink to be soft.
WIDE, SOFT_SHARE_WIDE = 0.17, 0.2
#: A soft digit's extent (fitted to MNIST's 20-pixel box): its ink above this share of the strongest.
SOFT_CORE = 0.25


def mnist_style(gray: np.ndarray) -> np.ndarray:
    """Turn a gray picture of one digit into a 28x28 MNIST-style image (float32, ink = 1).

    As MNIST was made: white ink on black (inverted when the background is light), cropped to
    the ink, fitted into a 20x20 box keeping the aspect ratio, then centred by centre of mass.
    What photos and scans add is undone first: the paper's lighting is subtracted. Then the
    picture is measured (`is_soft`): crisp strokes are cleaned (faint texture and isolated
    specks dropped) and a pen much thinner than MNIST's is thickened towards it; soft strokes
    (a blurry or enlarged low-resolution scan) keep their grey levels and their width.
    """
    g, soft = ink_map(gray)
    box = _soft_box(g) if soft else _crisp_box(g)
    return _centre(box)


def ink_map(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """A gray picture's ink, float32 in [0, 1] (bright ink on a black page, the strongest stroke
    1), and whether its strokes are soft (`is_soft`).

    Dark ink on light paper is inverted and pictures over 512 pixels are shrunk (box filter:
    thin lines fade, they don't vanish). The paper is subtracted: a crisp picture's by a grey
    opening (`_remove_background`: follows shadows and any lighting), a soft picture's by a
    plane under the paper (`_paper_plane`: an opening would eat the wide, faint strokes of a
    digit that fills its frame).
    """
    g = np.asarray(gray, np.float32)
    if g.ndim != 2 or min(g.shape) < 1:
        raise NeuroartError(f"expected a 2-D gray picture, got shape {g.shape}")
    if max(g.shape) > 512:  # a digit needs far fewer pixels; thin lines survive a box filter
        f = 512.0 / max(g.shape)
        g = _resize(g, (max(1, round(g.shape[1] * f)), max(1, round(g.shape[0] * f))))
    # light background: dark ink on paper (the border's median is nearer the top than the bottom)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    soft = _box3(g)  # single-pixel noise averaged away
    mid = np.median(border)
    if mid - soft.min() > soft.max() - mid:
        g = 1.0 - g
    flat = _normalised(np.clip(g - _paper_plane(g), 0, None))
    if flat is not None and is_soft(flat):
        return flat, True
    crisp = _normalised(_remove_background(g))
    if crisp is None:
        raise NeuroartError("image is blank: no ink to read")
    return crisp, False


def _normalised(g: np.ndarray) -> np.ndarray | None:
    """Ink scaled so that the strongest stroke is 1 (None when there is no ink)."""
    hi = float(_box3(g).max())  # the strongest ink, robust to isolated specks
    return None if hi < 0.05 else np.clip(g / hi, 0, 1)


def _paper_plane(g: np.ndarray) -> np.ndarray:
    """The paper as a plane ``a + b x + c y`` fitted to the lowest quarter of the pixels (ink is
    bright), refitted three times; on a copy at most 64 pixels across. Follows a lighting
    gradient; never rises into a stroke, however much of the frame the digit fills."""
    h, w = g.shape
    f = min(1.0, 64.0 / max(h, w))
    small = _resize(g, (max(1, round(w * f)), max(1, round(h * f)))) if f < 1 else g
    sy, sx = np.indices(small.shape, np.float64) / f
    sx, sy, values = sx.ravel(), sy.ravel(), small.ravel().astype(np.float64)
    keep = np.ones(values.size, bool)
    coef = np.zeros(3)
    for _ in range(3):
        coef = _plane_fit(sx[keep], sy[keep], values[keep])
        resid = values - (coef[0] + coef[1] * sx + coef[2] * sy)
        keep = resid <= np.percentile(resid, 25)
    cols, rows = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    return (coef[0] + coef[1] * cols[None, :] + coef[2] * rows[:, None]).astype(np.float32)


def _plane_fit(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Least-squares ``a + b x + c y`` to values v, by the 3x3 normal equations: sums only, no
    BLAS call (a BLAS least-squares spins up its thread pool on every call: under the studio's
    concurrent uploads that cost 4x the CPU of the whole request)."""
    n, sx, sy = float(len(v)), x.sum(), y.sum()
    a = np.array([[n, sx, sy], [sx, (x * x).sum(), (x * y).sum()], [sy, (x * y).sum(), (y * y).sum()]])
    b = np.array([v.sum(), (x * v).sum(), (y * v).sum()])
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:  # every kept pixel on one line: the flat paper through their mean
        return np.array([v.mean() if len(v) else 0.0, 0.0, 0.0])


def is_soft(ink: np.ndarray) -> bool:
    """Whether an ink map's strokes are soft and wide enough to keep as they are.

    Soft: `SOFT_SHARE` or more of its ink (> 0.1, after a 3x3 mean that quiets paper grain) is
    faint (< 0.5); a pen on paper has a crisp core and a thin anti-aliased edge (10-25 %), a
    blurred or enlarged small scan is mostly edge (30-70 %). A stroke as wide as `WIDE` of the
    digit's size (MNIST's are about 0.13) comes from a source with few pixels per stroke, and its
    faint edge is a smaller share of it: `SOFT_SHARE_WIDE` is enough. The strokes (ink > 0.5)
    must be at least `SOFT_WIDTH` of the digit's size: a thin pen line is soft too, but wants
    thickening.
    """
    smooth = _box3(ink)
    inked = int((smooth > 0.1).sum())
    rows, cols = np.nonzero(ink > 0.25)
    if inked == 0 or rows.size == 0:
        return False
    share = int(((smooth > 0.1) & (smooth < 0.5)).sum()) / inked
    width = _stroke_width(ink > 0.5) / (max(np.ptp(rows), np.ptp(cols)) + 1)
    return width >= SOFT_WIDTH and (share >= SOFT_SHARE or (width >= WIDE and share >= SOFT_SHARE_WIDE))


def _despeckle(g: np.ndarray) -> np.ndarray:
    """Drop isolated specks: ink with fewer than two inked neighbours."""
    ink = g > 0
    if min(g.shape) >= 3:
        near = _box3(ink.astype(np.float32)) * 9 - ink
        g = np.where(ink & (near < 2), 0.0, g).astype(np.float32)
    return g


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(ink)
    if rows.size == 0:
        raise NeuroartError("image is blank: no ink to read")
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _crisp_box(g: np.ndarray) -> np.ndarray:
    """A crisp picture's digit in its 20-pixel box: faint texture dropped, thin pens thickened."""
    g = _despeckle(np.where(g < 0.25, 0.0, g).astype(np.float32))  # paper texture and scan noise
    top, bottom, left, right = _ink_box(g > 0)
    g = g[top:bottom, left:right]
    h, w = g.shape
    # work at a size where the 20-pixel box is 80 pixels (4x), and thicken a pen much thinner
    # than MNIST's (about 2.5 of the box's 20 pixels, 10 at 4x)
    f = 80.0 / max(h, w)
    wh, ww = max(1, round(h * f)), max(1, round(w * f))
    work = _resize(g, (ww, wh), "box" if f < 1 else "bilinear")
    work = work / max(float(work.max()), 1e-6)
    width = _stroke_width(work > 0.3)
    if width < 5.0:
        grow = int(round(6.0 - width)) | 1
        work = np.maximum(work, _sliding(work, grow, np.max))
    s = 20.0 / max(wh, ww)
    nh, nw = max(1, round(wh * s)), max(1, round(ww * s))
    small = np.clip(_resize(work, (nw, nh), "lanczos"), 0, None)
    return np.clip(small / max(float(small.max()), 1e-6), 0, 1)


def _soft_box(g: np.ndarray) -> np.ndarray:
    """A soft picture's digit, its grey levels kept: the digit's core (ink > 0.25) is scaled to
    the 20-pixel box, with the faint edge around it (up to 4 pixels at that scale)."""
    g = _despeckle(np.where(g < 0.1, 0.0, g).astype(np.float32))
    top, bottom, left, right = _ink_box(g > SOFT_CORE)
    s = 20.0 / max(bottom - top, right - left)
    pad = int(np.ceil(4 / s))
    top, left = max(0, top - pad), max(0, left - pad)
    bottom, right = min(g.shape[0], bottom + pad), min(g.shape[1], right + pad)
    g = g[top:bottom, left:right]
    nh, nw = max(1, min(28, round(g.shape[0] * s))), max(1, min(28, round(g.shape[1] * s)))
    small = np.clip(_resize(g, (nw, nh), "box" if s < 1 else "bilinear"), 0, None)
    return np.clip(small / max(float(small.max()), 1e-6), 0, 1)


def _centre(small: np.ndarray) -> np.ndarray:
    """Place a digit (at most 28x28) in 28x28 with its centre of mass at the middle (13.5, 13.5)."""
    nh, nw = small.shape
    out = np.zeros((28, 28), np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    out[top : top + nh, left : left + nw] = small
    total = out.sum()
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = (out * yy).sum() / total, (out * xx).sum() / total
    dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
    dy = int(np.clip(dy, -top, 28 - nh - top))
    dx = int(np.clip(dx, -left, 28 - nw - left))
    out = np.roll(out, (dy, dx), axis=(0, 1))
    return np.clip(out, 0, 1)
