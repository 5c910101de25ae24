"""Digits as pen strokes: centre lines a pen plotter can draw, and the SVG page that holds them.

A digit is ink; a pen draws lines. `strokes` finds each digit's centre lines the way a hand
would have drawn them:

1. the digit is enlarged (`UPSAMPLE` times, bilinear) and thresholded, so the skeleton has room
   to be smooth; specks are dropped;
2. scikit-image's `skeletonize` thins the ink to one-pixel centre lines;
3. the skeleton is traced as a graph (`_trace`): lines from every end and junction to the next,
   closed loops (0, 8, the eyes of 6 and 9) as cycles; short spurs off a junction (the skeleton's
   hairs at a stroke's corners) are pruned;
4. at each junction the lines that continue most straight through it are joined (`_join`), so an
   8 is one or two strokes and a 4's crossbar stays whole;
5. each line is smoothed (a moving average, then Chaikin's corner cutting) in MNIST pixels.

`encode_svg` lays the strokes out like the PNG grid (same rows and columns), in millimetres on a
page (`PAGES`, or ``WxH`` mm) inside a margin: one ``<g>`` per digit (its id ``digit-K`` counts
from 1, so vpype reads each digit as layer K), one ``<path>`` per stroke, and a stroke width from
the digit's own ink (its ink area over its centre-line length: a bold digit gets a broad pen).

Pure: no file is written here (`neuroart.outputs` writes ``--svg``). scikit-image comes with the
``plotter`` extra; without it, `require_skimage` is one clear line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ._util import NeuroartError
from .validate import finite

#: Paper sizes in millimetres (width, height), portrait; ``WxH`` in mm gives any other.
PAGES = {"a3": (297.0, 420.0), "a4": (210.0, 297.0), "a5": (148.0, 210.0), "letter": (215.9, 279.4)}
PAGE = "A4"  # the default page
MARGIN_MM = 15.0  # the default margin, on every side
MIN_CELL_MM = 6.0  # a digit drawn smaller than this is a scribble: the page is too small for the grid
MAX_CELL_MM = 60.0  # a page with few digits draws them at most this large (centred on the page)
UPSAMPLE = 4  # the skeleton is found on a digit this many times larger (smoother centre lines)
THRESHOLD = 0.4  # ink where the (enlarged) digit is at least this bright
MIN_SPECK = 4.0  # ink blobs smaller than this many MNIST pixels are dropped
SPUR = 2.5  # a branch from a junction to a free end shorter than this (MNIST pixels) is pruned
MIN_STROKE = 1.5  # strokes shorter than this (MNIST pixels) are dropped
SIMPLIFY = 0.3  # the traced line may stray this far (MNIST pixels) from the pixel staircase
SMOOTH = 3  # Chaikin rounds (each one doubles the points and rounds the corners)

Stroke = np.ndarray  # (k, 2) float: x, y in MNIST pixels (0..28, y down)


def require_skimage(option: str = "svg"):
    """scikit-image's `skeletonize`, or one line saying how to install it."""
    try:
        from skimage.morphology import skeletonize
    except ImportError:
        raise NeuroartError(f"{option} needs scikit-image: pip install 'neuroart[plotter]'") from None
    return skeletonize


# --------------------------------------------------------------------------- tracing


def strokes(images) -> list[list[Stroke]]:
    """Each digit's centre-line strokes: a list per digit of (k, 2) arrays of x, y in MNIST pixels.

    `images` are digits (N, 28, 28) (or one (28, 28)) float in [0, 1]. A closed stroke (a loop)
    ends where it starts. A blank digit has no strokes.
    """
    return [digit_strokes(im) for im in _digits(images)]


def digit_strokes(image: np.ndarray) -> list[Stroke]:
    """The strokes of one digit (28, 28): see `strokes`."""
    skeleton = _skeleton(np.asarray(image, np.float32))
    for attempt in range(4):  # pruning a spur can leave a new one behind
        lines, ends = _trace(skeleton)
        spurs = [(line, a is not None) for line, (a, b) in zip(lines, ends, strict=True)
                 if (a is None) != (b is None) and _length(line) < SPUR * UPSAMPLE]
        if not spurs or attempt == 3:
            break
        for line, from_junction in spurs:
            for y, x in line[1:] if from_junction else line[:-1]:  # the junction's pixel stays
                skeleton[y, x] = False
    joined = _join(lines, ends)
    out = []
    for line, closed in joined:
        # (row, col) of the enlarged digit -> (x, y) in MNIST pixels, pixel i's centre at i + 0.5
        pts = np.asarray(line, np.float64)[:, ::-1] * (27 / (28 * UPSAMPLE - 1)) + 0.5
        if _length(pts) < MIN_STROKE:
            continue
        out.append(_smooth(pts, closed))
    return out


def _digits(images) -> np.ndarray:
    x = np.asarray(images, np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise NeuroartError(f"strokes need digits (N, 28, 28), got shape {tuple(np.shape(images))}")
    if not np.all(np.isfinite(x)):
        raise NeuroartError("digits have NaN or infinite values")
    return x


def _skeleton(image: np.ndarray) -> np.ndarray:
    """The enlarged digit's ink, specks dropped, thinned to one-pixel centre lines (bool)."""
    from scipy import ndimage

    skeletonize = require_skimage()
    big = ndimage.zoom(np.clip(image, 0, 1), UPSAMPLE, order=1, mode="nearest")
    ink = big >= THRESHOLD
    labels, n = ndimage.label(ink, structure=np.ones((3, 3)))
    if n:
        sizes = ndimage.sum(ink, labels, index=np.arange(1, n + 1))
        ink = np.isin(labels, 1 + np.flatnonzero(sizes >= MIN_SPECK * UPSAMPLE**2))
    return skeletonize(ink)


_STEPS = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]


def _neighbours(skeleton: np.ndarray, p) -> list[tuple[int, int]]:
    """p's skeleton neighbours in m-adjacency: a diagonal neighbour counts only when no shared
    straight neighbour already links the two (so a staircase is a line, not a chain of junctions)."""
    h, w = skeleton.shape
    y, x = p
    out = []
    for dy, dx in _STEPS:
        q = (y + dy, x + dx)
        if not (0 <= q[0] < h and 0 <= q[1] < w and skeleton[q]):
            continue
        if dy and dx and (skeleton[y + dy, x] or skeleton[y, x + dx]):
            continue
        out.append(q)
    return out


def _trace(skeleton: np.ndarray):
    """The skeleton as lines of (row, col) pixels, and each line's end nodes (a junction's id, or
    None for a free end); closed loops with no junction come back as lines with ends ("loop", "loop").

    Junction pixels (3 or more neighbours) that touch are one junction, so lines run between
    junctions, not between the pixels of one.
    """
    from scipy import ndimage

    pixels = list(zip(*np.nonzero(skeleton), strict=True))
    nbrs = {p: _neighbours(skeleton, p) for p in pixels}
    junction = np.zeros_like(skeleton)
    for p in pixels:
        junction[p] = len(nbrs[p]) >= 3
    jlabels, _ = ndimage.label(junction, structure=np.ones((3, 3)))
    node = {p: int(jlabels[p]) for p in pixels if junction[p]}
    ends = {p for p in pixels if len(nbrs[p]) <= 1}
    seen: set = set()  # edges walked, as frozensets of two pixels
    lines, line_ends = [], []

    def walk(start, first):
        line, prev, cur = [start, first], start, first
        seen.add(frozenset((start, first)))
        while cur not in node and cur not in ends:
            nxt = [q for q in nbrs[cur] if q != prev and frozenset((cur, q)) not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            seen.add(frozenset((prev, cur)))
            line.append(cur)
        return line

    for start in [p for p in pixels if p in node or p in ends]:
        if not nbrs[start]:  # a lone pixel
            continue
        for first in nbrs[start]:
            if frozenset((start, first)) in seen or (start in node and node.get(first) == node[start]):
                continue
            line = walk(start, first)
            lines.append(line)
            line_ends.append((node.get(line[0]), node.get(line[-1])))
    for start in pixels:  # what is left is loops without a junction (a 0, an o)
        free = [q for q in nbrs[start] if frozenset((start, q)) not in seen]
        if start in node or not free:
            continue
        line = walk(start, free[0])
        while line[-1] != start:
            nxt = [q for q in nbrs[line[-1]] if frozenset((line[-1], q)) not in seen]
            if not nxt:
                break
            line += walk(line[-1], nxt[0])[1:]
        lines.append(line)
        line_ends.append(("loop", "loop") if line[-1] == start else (None, None))
    return lines, line_ends


def _length(line) -> float:
    p = np.asarray(line, np.float64)
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0


def _direction(line, at_start: bool, reach: int = 3 * UPSAMPLE) -> np.ndarray:
    """The unit direction a line leaves its start (or end) in, over its first `reach` pixels."""
    p = np.asarray(line if at_start else line[::-1], np.float64)
    d = p[min(reach, len(p) - 1)] - p[0]
    n = np.linalg.norm(d)
    return d / n if n else d


def _join(lines, ends) -> list[tuple[list, bool]]:
    """Lines joined through junctions where they continue most straight: ``(pixels, closed)`` each.

    At each junction, the pair of line ends that leave it in the most nearly opposite directions
    is joined first, then the next pair, while the bend stays under about 110 degrees.
    """
    pairs = {}  # (line, at_start) -> (line, at_start) it continues into
    by_node: dict = {}
    for i, (a, b) in enumerate(ends):
        if a is not None and a != "loop":
            by_node.setdefault(a, []).append((i, True))
        if b is not None and b != "loop":
            by_node.setdefault(b, []).append((i, False))
    for members in by_node.values():
        dirs = {m: _direction(lines[m[0]], m[1]) for m in members}
        scored = sorted((float(dirs[m] @ dirs[n]), m, n) for k, m in enumerate(members) for n in members[k + 1:])
        for cos, m, n in scored:
            if cos > -0.35 or m in pairs or n in pairs:
                continue
            pairs[m], pairs[n] = n, m
    out, used = [], set()
    order = sorted(range(len(lines)), key=lambda i: (((i, True) in pairs) + ((i, False) in pairs), i))
    for i in order:  # chains start at a free end where there is one
        if i in used:
            continue
        start_at_end = (i, True) in pairs and (i, False) not in pairs
        chain, cur, forward = [], i, not start_at_end
        while cur not in used:
            used.add(cur)
            seg = lines[cur] if forward else lines[cur][::-1]
            chain += seg if not chain else seg[1:]
            nxt = pairs.get((cur, not forward))  # the end we left through
            if nxt is None:
                break
            cur, forward = nxt[0], nxt[1]
        closed = ends[i] == ("loop", "loop") or (len(chain) > 2 and chain[0] == chain[-1])
        out.append((chain, closed))
    return out


def _smooth(pts: np.ndarray, closed: bool) -> np.ndarray:
    """A pen's line through a traced stroke: a moving average over about one MNIST pixel, then
    Ramer-Douglas-Peucker (`SIMPLIFY` pixels: the pixel staircase goes, corners stay), then `SMOOTH`
    rounds of Chaikin corner cutting. Open strokes keep their ends; closed ones stay closed.
    """
    if closed and len(pts) > 1 and np.allclose(pts[0], pts[-1]):
        pts = pts[:-1]
    k = min(UPSAMPLE // 2, (len(pts) - 1) // 2)
    if k > 0:
        pad = (pts[-k:], pts[:k]) if closed else (np.repeat(pts[:1], k, 0), np.repeat(pts[-1:], k, 0))
        padded = np.concatenate([pad[0], pts, pad[1]])
        box = np.ones(2 * k + 1) / (2 * k + 1)
        avg = np.stack([np.convolve(padded[:, j], box, "valid") for j in (0, 1)], 1)
        pts = avg if closed else np.concatenate([pts[:1], avg[1:-1], pts[-1:]])
    if closed:  # simplified as a line from a point back to itself
        pts = _simplify(np.concatenate([pts, pts[:1]]), SIMPLIFY)[:-1]
        for _ in range(SMOOTH):
            nxt = np.roll(pts, -1, axis=0)
            pts = np.stack([0.75 * pts + 0.25 * nxt, 0.25 * pts + 0.75 * nxt], 1).reshape(-1, 2)
        return np.concatenate([pts, pts[:1]])
    pts = _simplify(pts, SIMPLIFY)
    for _ in range(SMOOTH):
        a, b = pts[:-1], pts[1:]
        mid = np.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], 1).reshape(-1, 2)
        pts = np.concatenate([pts[:1], mid, pts[-1:]])
    return pts


def _simplify(pts: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker: the fewest of `pts` that stay within `tolerance` of the line."""
    keep = np.zeros(len(pts), bool)
    keep[[0, -1]] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = pts[i], pts[j]
        seg = b - a
        rel = pts[i + 1 : j] - a
        norm = np.hypot(*seg)
        dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm if norm else np.hypot(rel[:, 0], rel[:, 1])
        m = int(dist.argmax())
        if dist[m] > tolerance:
            keep[i + 1 + m] = True
            stack += [(i, i + 1 + m), (i + 1 + m, j)]
    return pts[keep]


# --------------------------------------------------------------------------- the page


def parse_page(page) -> tuple[float, float]:
    """A page's (width, height) in mm: a name of `PAGES` (any case) or ``WxH`` in mm (``300x200``)."""
    text = str(page).strip().lower()
    if text in PAGES:
        return PAGES[text]
    parts = text.removesuffix("mm").split("x")
    try:
        w, h = (float(p) for p in parts)
    except ValueError:
        raise NeuroartError(f"page must be {', '.join(n if n == 'letter' else n.upper() for n in PAGES)} or "
                            f"WxH in mm (like 300x200), got {str(page)[:40]!r}") from None
    for what, v in (("width", w), ("height", h)):
        finite(f"page {what} (mm)", v, low=10, high=10_000)
    return w, h


@dataclass(frozen=True)
class Layout:
    """Where a grid of digits sits on a page, in mm: cell `cell` square, the grid's top left at (x0, y0)."""

    width: float
    height: float
    rows: int
    cols: int
    cell: float
    x0: float
    y0: float


def layout(rows: int, cols: int, *, page=PAGE, margin: float = MARGIN_MM) -> Layout:
    """A grid of `rows` x `cols` digits centred on `page` inside `margin` (mm), cells as large as fit
    (at most `MAX_CELL_MM`); a page too small for cells of `MIN_CELL_MM` is one clear line."""
    w, h = parse_page(page)
    margin = finite("margin", margin, low=0)
    aw, ah = w - 2 * margin, h - 2 * margin
    if aw <= 0 or ah <= 0:
        raise NeuroartError(f"margin {margin:g} mm leaves nothing of a {w:g} x {h:g} mm page")
    cell = min(aw / cols, ah / rows, MAX_CELL_MM)
    if cell < MIN_CELL_MM:
        raise NeuroartError(f"page {page} is too small for {rows} x {cols} digits: inside its {margin:g} mm margin "
                            f"each would be {cell:.1f} mm (at least {MIN_CELL_MM:g}); give a larger page, a smaller "
                            f"margin or fewer digits")
    return Layout(w, h, rows, cols, cell, (w - cols * cell) / 2, (h - rows * cell) / 2)


def grid_shape(n: int, ncols: int | None) -> tuple[int, int]:
    """(rows, columns) of `n` digits in a grid of `ncols` columns (None: square), as the PNG grid."""
    cols = int(ncols) if ncols else int(np.ceil(np.sqrt(n)))
    return int(np.ceil(n / cols)), cols


def pen_width(image: np.ndarray, lines: Sequence[Stroke]) -> float:
    """A digit's stroke width in MNIST pixels: its ink (summed intensity) over its strokes' length."""
    length = sum(_length(s) for s in lines)
    return float(np.clip(np.asarray(image, np.float64).sum() / length, 0.5, 5.0)) if length else 1.0


def _path(stroke: Stroke, x0: float, y0: float, s: float) -> str:
    closed = len(stroke) > 3 and np.allclose(stroke[0], stroke[-1])
    pts = stroke[:-1] if closed else stroke
    xy = [f"{x0 + x * s:.2f},{y0 + y * s:.2f}" for x, y in pts]
    return "M" + xy[0] + " L" + " ".join(xy[1:]) + (" Z" if closed else "")


def encode_svg(images, *, ncols: int | None = None, labels=None, page=PAGE, margin: float = MARGIN_MM,
               recipe: dict | None = None) -> bytes:
    """Digits (N, 28, 28) as an SVG page of pen strokes (UTF-8 bytes), laid out like the PNG grid.

    One ``<g>`` per digit in grid order (id ``digit-K``, K from 1; its ``inkscape:label`` is
    ``K: label`` when `labels` are given), one ``<path>`` per stroke, in mm on `page` inside
    `margin`. `recipe` goes into the SVG's ``<metadata>`` as JSON.
    """
    x = _digits(images)
    if labels is not None and len(labels) != len(x):
        raise NeuroartError(f"{len(labels)} labels for {len(x)} digits")
    rows, cols = grid_shape(len(x), ncols)
    lay = layout(rows, cols, page=page, margin=margin)
    s = lay.cell / 28.0
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
           f'width="{lay.width:g}mm" height="{lay.height:g}mm" viewBox="0 0 {lay.width:g} {lay.height:g}">',
           "<title>neuroart: digits as pen strokes</title>"]
    if recipe is not None:
        out.append(f"<metadata>{escape(json.dumps(recipe, sort_keys=True, default=str))}</metadata>")
    for i, (image, lines) in enumerate(zip(x, strokes(x), strict=True)):
        r, c = divmod(i, cols)
        x0, y0 = lay.x0 + c * lay.cell, lay.y0 + r * lay.cell
        name = f"{i + 1}" + (f": {labels[i]}" if labels is not None else "")
        out.append(f'<g id="digit-{i + 1}" inkscape:label={quoteattr(name)} fill="none" stroke="#000" '
                   f'stroke-width="{pen_width(image, lines) * s:.2f}" stroke-linecap="round" stroke-linejoin="round">')
        out += [f'<path d="{_path(stroke, x0, y0, s)}"/>' for stroke in lines]
        out.append("</g>")
    out.append("</svg>\n")
    return "\n".join(out).encode("utf-8")


def rasterize(svg: bytes, *, px_per_mm: float = 4.0, ink=(20, 24, 60), paper=(250, 248, 240)) -> np.ndarray:
    """An SVG page from `encode_svg` drawn as a pen would draw it: uint8 RGB (H, W, 3).

    Reads the SVG itself (its groups' stroke widths and its paths' M / L / Z commands), so the
    picture shows what a plotter would get, not the digits' pixels.
    """
    import xml.etree.ElementTree as ET

    from PIL import Image, ImageDraw

    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg)
    _, _, w, h = (float(v) for v in root.get("viewBox").split())
    k = 4  # drawn 4x larger, then shrunk: smooth edges
    img = Image.new("RGB", (round(w * px_per_mm * k), round(h * px_per_mm * k)), paper)
    draw = ImageDraw.Draw(img)
    scale = px_per_mm * k
    for group in root.iterfind("svg:g", ns):
        width = max(1, round(float(group.get("stroke-width", "0.3")) * scale))
        for path in group.iterfind("svg:path", ns):
            for part in path.get("d").split("M")[1:]:
                closed = part.rstrip().endswith("Z")
                pts = [tuple(float(v) * scale for v in xy.split(",")) for xy in part.replace("L", " ").replace("Z", " ").split()]
                pts = pts + pts[:1] if closed else pts
                draw.line(pts, fill=ink, width=width)
                r = width / 2
                for x, y in pts:  # a round nib: round joints and tips, no seams between segments
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    img = img.resize((img.width // k, img.height // k), Image.LANCZOS)
    return np.asarray(img)
